//! Rights withdrawn while they are in use: an API token revoked while
//! writes made with it are in flight, and a deployer's grant (or team
//! membership) removed while a "deploy as far as" chain is about to use
//! it. The database holds both with a share lock in the change's own
//! transaction, so once the withdrawal is answered nothing more is done
//! under the right: a change already under way commits before the
//! withdrawal does, and one that comes after is refused whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use stagecoach::domain::deployments::{self, DeployInput};
use stagecoach::domain::grants::{self, Holder};
use stagecoach::domain::states::Role;
use stagecoach::domain::teams;
use stagecoach::domain::tokens;

use crate::api;
use crate::helpers::fixtures::{admin, person};
use crate::helpers::spawn_app_with;

/// One write made with the token: whether it was sent after the revocation
/// was answered, and the status it got.
struct Sent {
    after_revocation: bool,
    status: u16,
}

/// Writers create releases with one token as fast as they can; the token
/// is revoked in the middle. Every write answered 2xx is kept and audited
/// under the token, every refused one left nothing, every write sent after
/// the revocation was answered is refused, and nothing made with the token
/// commits after that answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_revoked_while_writes_are_in_flight_changes_nothing_once_the_revocation_is_answered()
 {
    const ROUNDS: usize = 12;
    const WRITERS: usize = 4;
    let app = Arc::new(spawn_app_with(|s| s.deployment_workers = 0).await);
    let (project, user) = api::world(&app);
    let releases = format!("/api/v1/projects/{}/releases", project.slug);
    let (mut kept, mut refused_in_flight) = (0, 0);
    for round in 0..ROUNDS {
        let secret = api::token(&app, user, "", &[]);
        let token_id = app.count("SELECT max(id) AS n FROM api_tokens");
        let revoked = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (app, secret, releases, revoked) = (
                    app.clone(),
                    secret.clone(),
                    releases.clone(),
                    revoked.clone(),
                );
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    for n in 0.. {
                        let after_revocation = revoked.load(Ordering::SeqCst);
                        let version = format!("{round}.{writer}.{n}");
                        let (status, body) = api::post(
                            &app,
                            &releases,
                            &secret,
                            json!({ "version": version, "title": "race" }),
                        )
                        .await;
                        assert!(
                            status == 201 || status == 401,
                            "round {round}: {status} {body}"
                        );
                        sent.push(Sent {
                            after_revocation,
                            status,
                        });
                        if status == 401 {
                            return sent;
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        // A varying head start, so the revocation meets the writes at
        // different points of their transactions.
        tokio::time::sleep(Duration::from_millis(20 + (round as u64 * 7) % 40)).await;
        let mut conn = app.conn();
        tokio::task::spawn_blocking(move || tokens::revoke(&mut conn, &admin(), token_id))
            .await
            .unwrap()
            .expect("revoked");
        let made_at_answer = app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE token_id = {token_id}"
        ));
        revoked.store(true, Ordering::SeqCst);
        let mut sent = Vec::new();
        for writer in writers {
            sent.extend(writer.await.unwrap());
        }
        let created = sent.iter().filter(|s| s.status == 201).count() as i64;
        assert!(
            sent.iter().all(|s| !s.after_revocation || s.status == 401),
            "round {round}: a write sent after the revocation was answered got through"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE token_id = {token_id}"
            )),
            made_at_answer,
            "round {round}: a change made with the token committed after its revocation was answered"
        );
        assert_eq!(
            made_at_answer, created,
            "round {round}: every 201 audited under the token, nothing else"
        );
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM releases WHERE project_id = {} AND version LIKE '{round}.%'",
                project.id
            )),
            created,
            "round {round}: every 201 kept, every 401 left nothing"
        );
        kept += created;
        refused_in_flight += sent
            .iter()
            .filter(|s| s.status == 401 && !s.after_revocation)
            .count();
    }
    println!(
        "token revoked mid-burst: {ROUNDS} rounds, {kept} writes kept, {refused_in_flight} refused in flight"
    );
}

/// A release goes to QA "as far as Staging" for a deployer whose Staging
/// right is removed at about the moment QA succeeds: a direct grant in
/// even rounds, a team membership in odd ones. Either the chain asked for
/// Staging first (and the removal waited for it), or the chain stopped
/// with a note; a Staging deployment never appears after the removal was
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_removed_while_a_chain_runs_never_lets_the_chain_use_it_afterwards() {
    const ROUNDS: usize = 16;
    let app = spawn_app_with(|_| {}).await;
    let (project, pipeline) = app.project("Shop");
    let dora = app.create_user("dora", "dora-password-12", false);
    for env in &pipeline[..2] {
        app.grant(dora.id, env.id, "deployer");
    }
    let staging = pipeline[2].clone();
    let crew = teams::create(&mut app.conn(), &admin(), "Release crew").unwrap();
    grants::add(
        &mut app.conn(),
        &admin(),
        &staging,
        Holder::Team(crew.id),
        Role::Deployer,
    )
    .unwrap();
    let (mut chain_first, mut removal_first) = (0, 0);
    for round in 0..ROUNDS {
        let by_team = round % 2 == 1;
        if by_team {
            teams::add_member(&mut app.conn(), &admin(), &crew, "dora").unwrap();
        } else {
            app.grant(dora.id, staging.id, "deployer");
        }
        let release = app.release(&project, &format!("4.{round}.0"));
        app.wait_for(release.id, pipeline[0].id, "succeeded").await;
        let qa = deployments::request(
            &mut app.conn(),
            &person(&dora),
            release.id,
            &DeployInput {
                environment_id: pipeline[1].id,
                target_environment_id: Some(staging.id),
                ..Default::default()
            },
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis((round as u64 * 5) % 40)).await;
        let mut conn = app.conn();
        let (crew_for_removal, pipeline_for_removal, dora_id, staging_id) =
            (crew.clone(), pipeline.clone(), dora.id, staging.id);
        tokio::task::spawn_blocking(move || {
            use diesel::prelude::*;
            use stagecoach::db::schema::grants as g;
            if by_team {
                teams::remove_member(&mut conn, &admin(), &crew_for_removal, dora_id).unwrap();
            } else {
                let grant: i64 = g::table
                    .filter(g::user_id.eq(dora_id))
                    .filter(g::environment_id.eq(staging_id))
                    .select(g::id)
                    .first(&mut conn)
                    .unwrap();
                grants::remove(&mut conn, &admin(), &pipeline_for_removal, grant).unwrap();
            }
        })
        .await
        .unwrap();
        let in_staging = format!(
            "SELECT count(*) AS n FROM deployments WHERE release_id = {} AND environment_id = {}",
            release.id, staging.id
        );
        let at_answer = app.count(&in_staging);
        app.wait_for(release.id, pipeline[1].id, "succeeded").await;
        // The chain settles in the transaction that ends QA's deployment:
        // it asked for Staging, or it left a note saying why not.
        let stopped = format!(
            "SELECT count(*) AS n FROM deployments WHERE id = {} AND note LIKE 'Stopped before Staging%'",
            qa.id
        );
        let (now, noted) = (app.count(&in_staging), app.count(&stopped));
        assert_eq!(
            now, at_answer,
            "round {round}: the chain asked for Staging after the right was removed"
        );
        assert_eq!(
            now + noted,
            1,
            "round {round}: the chain either went on or said why not"
        );
        if now == 1 {
            chain_first += 1;
        } else {
            removal_first += 1;
        }
    }
    println!(
        "right removed during a chain: {ROUNDS} rounds, the chain went first {chain_first} times, the removal {removal_first} times"
    );
}
