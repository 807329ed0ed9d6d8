"""A Cloud Billing budget for the project, mailing the alert recipients (the monitoring
component's mail channels) as spend grows."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.monitoring import MAX_CHANNELS

DAYS_PER_MONTH = 30.4  # budgets are monthly; dailyBudgetUsd is the figure people reason in


def monthly_amount(daily_budget_usd: float) -> int:
    return max(1, round(daily_budget_usd * DAYS_PER_MONTH))


class BudgetArgs:
    def __init__(
        self,
        project: str,
        billing_account: str,
        daily_budget_usd: float,
        channels: Sequence[pulumi.Input[str]],
    ) -> None:
        self.project = project
        self.billing_account = billing_account
        self.daily_budget_usd = daily_budget_usd
        self.channels = list(channels)[:MAX_CHANNELS]


class Budget(pulumi.ComponentResource):
    budget: gcp.billing.Budget

    def __init__(
        self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("beacon:infra:Budget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project_number = gcp.organizations.get_project_output(project_id=args.project).number
        self.budget = gcp.billing.Budget(
            name,
            billing_account=args.billing_account,
            display_name=f"Beacon ({args.project})",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[project_number.apply(lambda number: f"projects/{number}")]
            ),
            amount=gcp.billing.BudgetAmountArgs(
                # No currency_code: a budget must use its billing account's currency, and that
                # is USD for most accounts; elsewhere the amount is read in the local currency.
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    units=str(monthly_amount(args.daily_budget_usd))
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=0.5),
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=0.9),
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0),
                # Warn before the month ends when the trend will overshoot.
                gcp.billing.BudgetThresholdRuleArgs(
                    threshold_percent=1.0, spend_basis="FORECASTED_SPEND"
                ),
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=args.channels,
                disable_default_iam_recipients=False,  # billing admins are mailed as well
            ),
            opts=child,
        )
        self.register_outputs({"budget": self.budget.name})
