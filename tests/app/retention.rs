use chrono::Utc;
use diesel::RunQueryDsl;
use stagecoach::domain::deployments::{self, DeployInput};
use stagecoach::domain::releases;
use stagecoach::domain::retention;

use crate::helpers::fixtures::admin;
use crate::helpers::spawn_app;

#[tokio::test]
async fn retention_removes_old_unpromoted_releases_and_keeps_promoted_and_newest_ones() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let all: Vec<_> = (0..6)
        .map(|i| app.release(&project, &format!("1.0.{i}")))
        .collect();
    for r in &all {
        app.wait_for(r.id, pipeline[0].id, "succeeded").await;
    }
    // 1.0.1 reached QA: kept forever.
    deployments::request(
        &mut app.conn(),
        &admin(),
        all[1].id,
        &DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(all[1].id, pipeline[1].id, "succeeded").await;
    // The first four are old.
    for r in &all[..4] {
        diesel::sql_query(format!(
            "UPDATE releases SET created_at = now() - interval '40 days' WHERE id = {}",
            r.id
        ))
        .execute(&mut app.conn())
        .unwrap();
    }
    retention::set_policy(&mut app.conn(), &admin(), project.id, "30", "3").unwrap();
    let page = app
        .get_html(&format!("/admin/projects/{}/retention", project.slug))
        .await;
    assert!(
        page.contains(">1.0.0</a>") && page.contains(">1.0.2</a>"),
        "{page}"
    );
    assert!(!page.contains(">1.0.1</a>"), "promoted: kept");

    let candidates: Vec<String> = retention::candidates(&mut app.conn(), project.id, Utc::now())
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    // Newest three are 1.0.5, 1.0.4 and 1.0.3; 1.0.1 was promoted.
    assert_eq!(candidates, ["1.0.0", "1.0.2"]);
    assert_eq!(
        retention::sweep(&mut app.conn(), project.id, Utc::now()).unwrap(),
        2
    );
    let left: Vec<String> = (0..6)
        .filter_map(|i| {
            releases::find(&mut app.conn(), project.id, &format!("1.0.{i}"))
                .unwrap()
                .map(|r| r.version)
        })
        .collect();
    assert_eq!(left, ["1.0.1", "1.0.3", "1.0.4", "1.0.5"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'release.deleted' AND actor_name = 'retention'"), 2);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'retention.swept'"),
        1
    );
    assert!(
        app.get_html(&format!("/admin/projects/{}/retention", project.slug))
            .await
            .contains("id=\"nothing-to-remove\"")
    );
}

#[tokio::test]
async fn workers_sweep_each_project_once_a_day() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, _) = app.project("Shop");
    assert_eq!(retention::sweep_due(&mut app.conn()).unwrap(), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM projects WHERE id = {} AND retention_swept_at IS NOT NULL",
            project.id
        )),
        1
    );
    // Swept within the day: not again.
    diesel::sql_query("UPDATE projects SET retention_swept_at = now() - interval '2 hours'")
        .execute(&mut app.conn())
        .unwrap();
    retention::sweep_due(&mut app.conn()).unwrap();
    assert_eq!(app.count("SELECT count(*) AS n FROM projects WHERE retention_swept_at < now() - interval '1 hour'"), 1);
}

#[tokio::test]
async fn the_retention_form_keeps_what_was_typed() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, _) = app.project("Shop");
    let url = format!("/admin/projects/{}/retention", project.slug);
    let response = app
        .post_form(
            &url,
            &url,
            &[("retention_days", "0"), ("retention_keep", "x")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Use a whole number of days") && html.contains("value=\"x\""));
    let response = app
        .post_form(
            &url,
            &url,
            &[("retention_days", "14"), ("retention_keep", "5")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        app.count("SELECT retention_days::bigint AS n FROM projects"),
        14
    );
}

/// Retention sweeping an old release at the same instant as someone
/// promotes it, many times: either the promotion wins and the release
/// stays (promoted, so never swept), or the sweep wins and the promotion
/// is refused; never a promoted release lost, never a 500.
#[tokio::test]
async fn a_sweep_racing_a_promotion_never_loses_a_promoted_release() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let qa =
        crate::helpers::fixtures::policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    retention::set_policy(&mut app.conn(), &admin(), project.id, "30", "1").unwrap();
    let (mut promoted, mut swept) = (0, 0);
    for round in 0..20 {
        let old = app.release(&project, &format!("3.{round}.0"));
        let newer = app.release(&project, &format!("3.{round}.1"));
        app.wait_for(old.id, pipeline[0].id, "succeeded").await;
        app.wait_for(newer.id, pipeline[0].id, "succeeded").await;
        diesel::sql_query(format!(
            "UPDATE releases SET created_at = now() - interval '40 days' WHERE id = {}",
            old.id
        ))
        .execute(&mut app.conn())
        .unwrap();
        let barrier = std::sync::Barrier::new(2);
        let (sweep, promotion) = std::thread::scope(|scope| {
            let (mut a, mut b) = (app.conn(), app.conn());
            let (barrier, project_id, qa_id) = (&barrier, project.id, qa.id);
            let sweeping = scope.spawn(move || {
                barrier.wait();
                retention::sweep(&mut a, project_id, Utc::now())
            });
            let promoting = scope.spawn(move || {
                barrier.wait();
                // Half the rounds give the sweep a head start of a varying
                // few milliseconds, so both orders are met.
                if round % 2 == 1 {
                    std::thread::sleep(std::time::Duration::from_millis(1 + round % 5));
                }
                deployments::request(
                    &mut b,
                    &admin(),
                    old.id,
                    &DeployInput {
                        environment_id: qa_id,
                        ..Default::default()
                    },
                )
            });
            (sweeping.join().unwrap(), promoting.join().unwrap())
        });
        let removed = sweep.unwrap_or_else(|err| panic!("round {round}: {err}"));
        let exists = releases::find(&mut app.conn(), project.id, &old.version)
            .unwrap()
            .is_some();
        match promotion {
            Ok(_) => {
                promoted += 1;
                assert!(exists, "round {round}: a promoted release was swept");
                assert_eq!(removed, 0, "round {round}");
            }
            Err(err) => {
                swept += 1;
                assert!(!exists, "round {round}: refused ({err}) but not swept");
                assert_eq!(removed, 1, "round {round}");
                assert!(
                    err.to_string().contains("no longer exists"),
                    "round {round}: {err}"
                );
            }
        }
    }
    println!("sweep vs promotion: {promoted} promotions won, {swept} sweeps won, 20 rounds");
}
