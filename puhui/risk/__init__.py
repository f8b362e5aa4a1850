"""The risk engine: credit-risk models learned from data, validated, explained and versioned.

    german       the German Credit benchmark data, protected attributes split off
    woe          binned characteristics and their weight of evidence
    scorecard    the WoE logistic points scorecard (the champion: readable, bin by bin)
    gbm          the LightGBM challenger, calibrated, with SHAP reason codes
    reasons      reason codes shared by both models (-> decision `Reason.of`)
    evaluation   AUC, KS, Gini and repeated stratified cross-validation
    model_registry  the file-based model registry (artefact sha256, data fingerprint, metrics)
    errors       the RiskError subtree
    data/        business-data records, connectors and the synthetic world (docs/risk-data.md)
    panel        records reduced to the point-in-time monthly panel
    features     point-in-time features over the panel (`features_for`, `feature_frame`)

Submodules are imported on use: the training stack (optbinning, LightGBM) is heavy.
"""
