"""Days past due, aging buckets and the five-tier loan classification (五级分类).

Default thresholds follow the 2023 rules on the risk classification of financial assets
(商业银行金融资产风险分类办法): any overdue amount makes a loan at least special mention,
more than 90 days substandard, more than 270 days doubtful, more than 360 days loss.
Lenders with stricter policies configure their own thresholds.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from datetime import date

from puhui.errors import InvalidProduct


class RiskClass(str, enum.Enum):
    NORMAL = "normal"                   # 正常
    SPECIAL_MENTION = "special_mention"  # 关注
    SUBSTANDARD = "substandard"         # 次级
    DOUBTFUL = "doubtful"               # 可疑
    LOSS = "loss"                       # 损失

    @property
    def chinese(self) -> str:
        return {"normal": "正常", "special_mention": "关注", "substandard": "次级",
                "doubtful": "可疑", "loss": "损失"}[self.value]

    @property
    def non_performing(self) -> bool:
        """Substandard, doubtful and loss loans are non-performing (不良)."""
        return self in (RiskClass.SUBSTANDARD, RiskClass.DOUBTFUL, RiskClass.LOSS)


RISK_CLASSES = tuple(RiskClass)


@dataclass(frozen=True, slots=True)
class DelinquencyPolicy:
    """Where aging buckets and risk classes begin, in days past due."""

    bucket_starts: tuple[int, ...] = (1, 31, 61, 91)           # current | 1-30 | 31-60 | 61-90 | 90+
    class_starts: tuple[int, ...] = (1, 91, 271, 361)          # special mention .. loss

    def __post_init__(self) -> None:
        for name in ("bucket_starts", "class_starts"):
            edges = getattr(self, name)
            if any(b <= a for a, b in zip(edges, edges[1:])) or not edges or edges[0] < 1:
                raise InvalidProduct(f"{name} must be strictly increasing and start at >= 1")
        if len(self.class_starts) != len(RISK_CLASSES) - 1:
            raise InvalidProduct("class_starts needs one threshold per class after 'normal'")

    @property
    def bucket_labels(self) -> tuple[str, ...]:
        s = self.bucket_starts
        labels = ["current"] + [f"{a}-{b - 1}" for a, b in zip(s, s[1:])] + [f"{s[-1] - 1}+"]
        return tuple(labels)

    def bucket_index(self, dpd: int) -> int:
        return bisect.bisect_right(self.bucket_starts, dpd)

    def bucket(self, dpd: int) -> str:
        return self.bucket_labels[self.bucket_index(dpd)]

    def risk_class(self, dpd: int) -> RiskClass:
        return RISK_CLASSES[bisect.bisect_right(self.class_starts, dpd)]


DEFAULT_POLICY = DelinquencyPolicy()


def days_past_due(oldest_unpaid_due: date | None, as_of: date) -> int:
    """Days since the oldest instalment still unpaid fell due (0 on the due date itself)."""
    if oldest_unpaid_due is None or as_of <= oldest_unpaid_due:
        return 0
    return (as_of - oldest_unpaid_due).days
