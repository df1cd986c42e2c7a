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

    /// The state as people read it when `verifying` (running, past its
    /// steps, its checks being tried) is known too: to every rule such a
    /// deployment is running, to people it is "verifying".
    pub const fn shown_words(self, verifying: bool) -> &'static str {
        if verifying && matches!(self, Self::Running) {
            "verifying"
        } else {
            self.words()
        }
    }

    /// The CSS class suffix of what [`Self::shown_words`] says.
    pub const fn shown_class(self, verifying: bool) -> &'static str {
        if verifying && matches!(self, Self::Running) {
            "verifying"
        } else {
            self.as_str()
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

crate::text_enum! {
    /// What a step does: runs a bash script, calls a webhook, or waits
    /// for a person (an approver) to proceed or abort.
    pub enum StepKind {
        Script = "script",
        Http = "http",
        Manual = "manual",
    }
}

crate::text_enum! {
    /// What a verification check asks: an HTTP answer, or a script's exit.
    pub enum CheckKind {
        Http = "http",
        Script = "script",
    }
}

crate::text_enum! {
    /// What starts a deployment in an environment besides a person.
    pub enum Trigger {
        Manual = "manual",
        OnRelease = "on_release",
        AfterPrevious = "after_previous",
        Scheduled = "scheduled",
    }
}

impl Trigger {
    /// The trigger as people read it.
    pub const fn words(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::OnRelease => "on release creation",
            Self::AfterPrevious => "after success in the previous environment",
            Self::Scheduled => "on a schedule",
        }
    }
}

crate::text_enum! {
    /// What happens to deployments waiting in an environment.
    pub enum QueuePolicy {
        /// Each runs, in the order asked.
        All = "all",
        /// Only the newest runs; older waiting ones are cancelled.
        Latest = "latest",
    }
}

crate::text_enum! {
    /// An approver's decision as stored (a deferral keeps its time beside
    /// it: `approvals::Decision`).
    pub enum DecisionKind {
        Approve = "approve",
        Reject = "reject",
        /// Approved, to start no earlier than a time.
        Defer = "defer",
    }
}

crate::text_enum! {
    /// What a grant lets its holder do on one environment.
    pub enum Role {
        Viewer = "viewer",
        Deployer = "deployer",
        Approver = "approver",
    }
}

crate::text_enum! {
    /// Why a deployment exists. A person's deployment names them in
    /// `requested_by` (for every step of an "as far as" chain, its
    /// originator); the others were started by the environment's trigger.
    /// The database refuses a person without the deployer role there, and
    /// a cause the environment's trigger does not have.
    #[derive(Default)]
    pub enum Cause {
        #[default]
        Person = "person",
        OnRelease = "on_release",
        AfterPrevious = "after_previous",
        Schedule = "schedule",
        /// The automatic rollback after a deployment here failed its
        /// checks, where the policy asks for one.
        Verification = "verification",
        /// Made before causes were recorded; nothing asks for it now.
        Unrecorded = "unrecorded",
    }
}

impl Cause {
    /// How a deployment came about, as people read it.
    pub const fn words(self) -> &'static str {
        match self {
            Self::OnRelease => "started on release creation",
            Self::AfterPrevious => {
                "started automatically after success in the previous environment"
            }
            Self::Schedule => "started by the schedule",
            Self::Verification => "started automatically: the release after it failed verification",
            Self::Person => "requested",
            Self::Unrecorded => "started automatically",
        }
    }
}
