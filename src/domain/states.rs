//! The states things move through, as types: each is stored as a
//! `CHECK`ed text column and mapped once (`db::text_enum`). A value from
//! the database that an enum does not know is an error, never a default.

crate::text_enum! {
    /// A deployment's state (`PRODUCT.md`): awaiting approval → queued →
    /// running → succeeded | failed, or rejected | cancelled.
    pub enum DeploymentStatus {
        AwaitingApproval = "awaiting_approval",
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Rejected = "rejected",
        Cancelled = "cancelled",
    }
}

impl DeploymentStatus {
    /// The state as people read it, in pages and in refusals.
    pub const fn words(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "waiting for approval",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// Not finished: waiting for approval, queued or running.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::AwaitingApproval | Self::Queued | Self::Running)
    }
}

crate::text_enum! {
    /// A step of a running deployment: pending → running → succeeded |
    /// failed | cancelled; skipped when an earlier step ended the run.
    pub enum StepStatus {
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
        Cancelled = "cancelled",
    }
}
