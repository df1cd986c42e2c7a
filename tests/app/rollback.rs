//! "Roll back to the last good release" on an environment page: the
//! newest older release that succeeded there, deployed again under the
//! usual rules and marked as a rollback.

use diesel::prelude::*;
use stagecoach::db::schema::deployments;

use crate::helpers::spawn_app;

const PAGE: &str = "/projects/shop/environments/development";

#[tokio::test]
async fn rolling_back_brings_the_last_good_release_back_marked_as_a_rollback() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let dev = &pipeline[0];
    let old = app.release(&project, "1.0.0");
    app.wait_for(old.id, dev.id, "succeeded").await;
    // Nothing older than the only release: nothing to roll back to.
    assert!(!app.get_html(PAGE).await.contains("id=\"rollback\""));
    let new = app.release(&project, "1.1.0");
    app.wait_for(new.id, dev.id, "succeeded").await;
    let html = app.get_html(PAGE).await;
    assert!(html.contains("Roll back to 1.0.0"), "{html}");

    // A page that is out of date asks to look again and deploys nothing.
    let before = app.count("SELECT count(*) AS n FROM deployments");
    let response = app
        .post_form(&format!("{PAGE}/rollback"), PAGE, &[("version", "0.9.0")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(app.get_html(PAGE).await.contains("look at it again"));
    assert_eq!(app.count("SELECT count(*) AS n FROM deployments"), before);

    let response = app
        .post_form(&format!("{PAGE}/rollback"), PAGE, &[("version", "1.0.0")])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let (rollback, comment): (bool, String) = deployments::table
        .filter(deployments::release_id.eq(old.id))
        .order(deployments::id.desc())
        .select((deployments::is_rollback, deployments::comment))
        .first(&mut app.conn())
        .unwrap();
    assert!(rollback, "marked as a rollback");
    assert!(comment.contains("Roll back"), "{comment}");
    app.wait_for(old.id, dev.id, "succeeded").await;
    let html = app.get_html(PAGE).await;
    assert!(html.contains("Rolling back Development to 1.0.0"), "{html}");
    // 1.0.0 is live again, and nothing older succeeded here.
    assert!(!html.contains("id=\"rollback\""), "{html}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'deployment.requested' AND details->>'rollback' = 'true'"),
        1
    );
}
