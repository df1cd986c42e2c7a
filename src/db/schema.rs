// @generated automatically by Diesel CLI.

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        prefix -> Text,
        secret_hash -> Bytea,
        project_id -> Nullable<Int8>,
        roles -> Nullable<Array<Text>>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        last_used_from -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
        revoked_by -> Nullable<Int8>,
    }
}

diesel::table! {
    approvals (id) {
        id -> Int8,
        deployment_id -> Int8,
        approver_id -> Int8,
        decision -> Text,
        comment -> Text,
        defer_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_actions (action) {
        action -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Int8>,
        actor_name -> Text,
        action -> Text,
        object_type -> Text,
        object_id -> Nullable<Text>,
        project_id -> Nullable<Int8>,
        details -> Jsonb,
        client_addr -> Nullable<Text>,
        token_id -> Nullable<Int8>,
    }
}

diesel::table! {
    checks (id) {
        id -> Int8,
        environment_id -> Int8,
        position -> Int4,
        kind -> Text,
        name -> Text,
        url -> Nullable<Text>,
        expect_status -> Int4,
        expect_text -> Text,
        script -> Text,
        interval_seconds -> Int4,
        within_seconds -> Int4,
    }
}

diesel::table! {
    deployment_logs (id) {
        id -> Int8,
        deployment_id -> Int8,
        step_position -> Nullable<Int4>,
        stream -> Text,
        at -> Timestamptz,
        line -> Text,
        end_offset -> Int8,
    }
}

diesel::table! {
    deployment_steps (deployment_id, position) {
        deployment_id -> Int8,
        position -> Int4,
        name -> Text,
        kind -> Text,
        status -> Text,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        detail -> Text,
        instructions -> Text,
    }
}

diesel::table! {
    manual_decisions (deployment_id, position) {
        deployment_id -> Int8,
        position -> Int4,
        proceed -> Bool,
        note -> Text,
        decided_by -> Int8,
        decided_at -> Timestamptz,
    }
}

diesel::table! {
    deployments (id) {
        id -> Int8,
        environment_release_id -> Int8,
        release_id -> Int8,
        environment_id -> Int8,
        attempt -> Int4,
        status -> Text,
        is_rollback -> Bool,
        comment -> Text,
        requested_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        worker_id -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        cancel_requested -> Bool,
        note -> Text,
        log_bytes -> Int8,
        not_before -> Nullable<Timestamptz>,
        required_approvals -> Int4,
        approval_deadline -> Nullable<Timestamptz>,
        target_environment_id -> Nullable<Int8>,
        override_reason -> Nullable<Text>,
        override_requested_by -> Nullable<Int8>,
        override_confirmed_by -> Nullable<Int8>,
        cause -> Text,
        superseded_by -> Nullable<Int8>,
        verifying_since -> Nullable<Timestamptz>,
        failed_verification -> Bool,
    }
}

diesel::table! {
    environment_releases (id) {
        id -> Int8,
        release_id -> Int8,
        environment_id -> Int8,
        version_label -> Text,
        promoted_from -> Nullable<Int8>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    release_blocks (release_id) {
        release_id -> Int8,
        reason -> Text,
        blocked_by -> Nullable<Int8>,
        blocked_at -> Timestamptz,
    }
}

diesel::table! {
    environments (id) {
        id -> Int8,
        project_id -> Int8,
        slug -> Text,
        name -> Text,
        position -> Int4,
        url -> Nullable<Text>,
        created_at -> Timestamptz,
        trigger -> Text,
        max_running -> Int4,
        queue_policy -> Text,
        required_approvals -> Int4,
        allow_self_approval -> Bool,
        approval_timeout_hours -> Int4,
        window_days -> Array<Nullable<Int2>>,
        window_start -> Nullable<Time>,
        window_end -> Nullable<Time>,
        window_time_zone -> Text,
        schedule_days -> Array<Nullable<Int2>>,
        schedule_time -> Nullable<Time>,
        schedule_time_zone -> Text,
        schedule_checked_at -> Nullable<Timestamptz>,
        supersede -> Bool,
        soak_minutes -> Int4,
        rollback_on_failed_verification -> Bool,
    }
}

diesel::table! {
    freezes (id) {
        id -> Int8,
        project_id -> Int8,
        environment_id -> Nullable<Int8>,
        reason -> Text,
        kind -> Text,
        starts_at -> Nullable<Timestamptz>,
        ends_at -> Nullable<Timestamptz>,
        days -> Array<Nullable<Int2>>,
        start_time -> Nullable<Time>,
        end_time -> Nullable<Time>,
        time_zone -> Text,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    grants (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        environment_id -> Int8,
        role -> Text,
        created_at -> Timestamptz,
        team_id -> Nullable<Int8>,
    }
}

diesel::table! {
    idempotency_keys (token_id, key) {
        token_id -> Int8,
        key -> Text,
        request_hash -> Bytea,
        status -> Nullable<Int2>,
        response -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Int8,
        username -> Text,
        outcome -> Text,
        client_addr -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::table! {
    projects (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        created_by -> Nullable<Int8>,
        retention_days -> Int4,
        retention_keep -> Int4,
        retention_swept_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    release_artifacts (id) {
        id -> Int8,
        release_id -> Int8,
        position -> Int4,
        name -> Text,
        reference -> Text,
        url -> Nullable<Text>,
        sha256 -> Nullable<Text>,
    }
}

diesel::table! {
    releases (id) {
        id -> Int8,
        project_id -> Int8,
        version -> Text,
        title -> Text,
        description -> Text,
        snapshot -> Jsonb,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        first_environment_id -> Int8,
        search_words -> Text,
    }
}

diesel::table! {
    sessions (key_hash) {
        key_hash -> Text,
        state -> Jsonb,
        user_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        absolute_expires_at -> Timestamptz,
    }
}

diesel::table! {
    site_settings (id) {
        id -> Bool,
        token_max_lifetime_days -> Int4,
    }
}

diesel::table! {
    steps (id) {
        id -> Int8,
        environment_id -> Int8,
        position -> Int4,
        kind -> Text,
        name -> Text,
        script -> Text,
        url -> Nullable<Text>,
        timeout_seconds -> Int4,
        retries -> Int4,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Int8,
        user_id -> Int8,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    teams (id) {
        id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        password_changed_at -> Timestamptz,
        is_service -> Bool,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Int8,
        at -> Timestamptz,
        status_code -> Nullable<Int4>,
        response -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        subscription_id -> Int8,
        message_id -> Text,
        event -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_status_code -> Nullable<Int4>,
        last_response -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Int8,
        project_id -> Int8,
        url -> Text,
        events -> Array<Text>,
        format -> Text,
        secret -> Bytea,
        active -> Bool,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    variables (id) {
        id -> Int8,
        environment_id -> Int8,
        name -> Text,
        secret -> Bool,
        value -> Nullable<Text>,
        encrypted -> Nullable<Bytea>,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(approvals -> deployments (deployment_id));
diesel::joinable!(approvals -> users (approver_id));
diesel::joinable!(audit_events -> users (actor_id));
diesel::joinable!(checks -> environments (environment_id));
diesel::joinable!(deployment_logs -> deployments (deployment_id));
diesel::joinable!(deployment_steps -> deployments (deployment_id));
diesel::joinable!(deployments -> environment_releases (environment_release_id));
diesel::joinable!(deployments -> releases (release_id));
diesel::joinable!(environment_releases -> environments (environment_id));
diesel::joinable!(environment_releases -> releases (release_id));
diesel::joinable!(environment_releases -> users (created_by));
diesel::joinable!(environments -> projects (project_id));
diesel::joinable!(freezes -> environments (environment_id));
diesel::joinable!(freezes -> projects (project_id));
diesel::joinable!(freezes -> users (created_by));
diesel::joinable!(grants -> environments (environment_id));
diesel::joinable!(grants -> teams (team_id));
diesel::joinable!(grants -> users (user_id));
diesel::joinable!(projects -> users (created_by));
diesel::joinable!(release_artifacts -> releases (release_id));
diesel::joinable!(release_blocks -> releases (release_id));
diesel::joinable!(releases -> environments (first_environment_id));
diesel::joinable!(releases -> projects (project_id));
diesel::joinable!(releases -> users (created_by));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(steps -> environments (environment_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(variables -> environments (environment_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_subscriptions -> projects (project_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    approvals,
    audit_actions,
    audit_events,
    checks,
    deployment_logs,
    deployment_steps,
    deployments,
    environment_releases,
    environments,
    freezes,
    grants,
    idempotency_keys,
    login_attempts,
    manual_decisions,
    projects,
    release_artifacts,
    release_blocks,
    releases,
    sessions,
    site_settings,
    steps,
    team_members,
    teams,
    users,
    variables,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
);
