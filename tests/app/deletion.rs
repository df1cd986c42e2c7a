use diesel::RunQueryDsl;
use stagecoach::domain::deployments::{self, DeployInput};
use stagecoach::domain::releases::{self, ReleaseError};

use crate::helpers::fixtures::admin;
use crate::helpers::{location, new_client, spawn_app};

#[tokio::test]
async fn a_release_that_never_left_its_first_environment_can_be_deleted_after_confirmation() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    assert!(app.get_html(&page).await.contains("id=\"delete-release\""));
    let confirm = app.get_html(&format!("{page}/delete")).await;
    assert!(confirm.contains("Delete release 1.0.0?"));
    let response = app
        .post_form(&format!("{page}/delete"), &format!("{page}/delete"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        location(&response),
        format!("/projects/{}/releases", project.slug)
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'release.deleted'"),
        1
    );
    assert_eq!(app.get(&page).await.status().as_u16(), 404);
}

#[tokio::test]
async fn a_promoted_release_can_never_be_deleted_by_any_path() {
    let app = spawn_app().await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();

    // The page says why the button is gone, and a forged POST is refused.
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let html = app.get_html(&page).await;
    assert!(html.contains("id=\"delete-blocked\""));
    assert!(html.contains("Deployed to QA"));
    let response = app.post_form(&format!("{page}/delete"), &page, &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(app.get_html(&page).await.contains("1.0.0 was not deleted."));

    // The domain refuses, and so does the database itself. (After the QA
    // deployment has finished, so that no worker transaction holds a lock
    // the raw statements below would wait on.)
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;
    assert!(matches!(
        releases::delete(&mut app.conn(), &admin(), release.id),
        Err(ReleaseError::Refused(_))
    ));
    for statement in [
        format!("DELETE FROM releases WHERE id = {}", release.id),
        format!(
            "DELETE FROM environment_releases WHERE release_id = {} AND environment_id = {}",
            release.id, pipeline[1].id
        ),
        format!("DELETE FROM projects WHERE id = {}", project.id),
        "TRUNCATE releases CASCADE".to_owned(),
    ] {
        let err = diesel::sql_query(&statement)
            .execute(&mut app.conn())
            .unwrap_err();
        assert!(
            err.to_string().contains("never be deleted") || err.to_string().contains("TRUNCATE"),
            "{statement}: {err}"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);
}

#[tokio::test]
async fn a_release_with_a_deployment_queued_or_running_cannot_be_deleted() {
    let app = crate::helpers::spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, _) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    let err = releases::delete(&mut app.conn(), &admin(), release.id).unwrap_err();
    assert!(err.to_string().contains("queued or running"), "{err}");
    let err = diesel::sql_query(format!("DELETE FROM releases WHERE id = {}", release.id))
        .execute(&mut app.conn())
        .unwrap_err();
    assert!(err.to_string().contains("queued or running"), "{err}");
}

#[tokio::test]
async fn deleting_needs_the_deployer_role_on_the_first_environment() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "1.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let qa_deployer = app.create_user("quinn", "quinn-password-1", false);
    app.grant(qa_deployer.id, pipeline[1].id, "deployer");
    let client = new_client();
    app.login_with(&client, "quinn", "quinn-password-1").await;
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let html = app.get_with(&client, &page).await.text().await.unwrap();
    assert!(html.contains("You need the deployer role on Development to delete its releases."));
    let response = app
        .post_form_with(&client, &format!("{page}/delete"), &page, &[])
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);
}

/// Many delete-and-deploy pairs racing on fresh releases: afterwards no
/// deleted release has anything beyond its first environment, and no
/// promoted release is gone.
#[tokio::test]
async fn racing_deletes_and_promotions_never_lose_a_promoted_release() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.http_workers = Some(2);
        s.db_pool_size = 8;
    })
    .await;
    app.login_admin().await;
    let (project, pipeline) = app.project("Shop");
    let mut versions = Vec::new();
    for i in 0..24 {
        let version = format!("1.0.{i}");
        let release = app.release(&project, &version);
        app.wait_for(release.id, pipeline[0].id, "succeeded").await;
        versions.push(version);
    }
    // Fetch tokens first so the requests themselves start together.
    let page = format!("/projects/{}/releases/1.0.0", project.slug);
    let token = app.csrf_token_with(&app.client, &page).await;
    let mut pairs = Vec::new();
    for version in &versions {
        let base = app.url(&format!("/projects/{}/releases/{version}", project.slug));
        let (a, b) = (app.client.clone(), app.client.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let (deploy_url, delete_url) = (format!("{base}/deploy"), format!("{base}/delete"));
        pairs.push(tokio::spawn(async move {
            let deploy = a
                .post(deploy_url)
                .form(&[("environment", "qa"), ("csrf_token", &t1)])
                .send();
            let delete = b
                .post(delete_url)
                .form(&[("csrf_token", t2.as_str())])
                .send();
            let (deploy, delete) = tokio::join!(deploy, delete);
            (deploy.unwrap(), delete.unwrap())
        }));
    }
    let mut deployed = 0;
    let mut deleted = 0;
    for (version, pair) in versions.iter().zip(pairs) {
        let (deploy, delete) = pair.await.unwrap();
        let release = releases::find(&mut app.conn(), project.id, version).unwrap();
        let deploy_ok = deploy.status().as_u16() == 303;
        let delete_ok = delete.status().as_u16() == 303 && location(&delete).ends_with("/releases");
        assert!(
            deploy_ok != delete_ok,
            "{version}: exactly one of deploy and delete wins"
        );
        if deploy_ok {
            deployed += 1;
            let release = release.unwrap_or_else(|| panic!("{version} was promoted yet is gone"));
            assert!(app.status(release.id, pipeline[1].id).is_some());
        } else {
            deleted += 1;
            assert!(
                release.is_none(),
                "{version} was reported deleted yet exists"
            );
        }
    }
    assert_eq!(deployed + deleted, versions.len());
    // Nothing is left over anywhere of a deleted release.
    assert_eq!(app.count("SELECT count(*) AS n FROM environment_releases er LEFT JOIN releases r ON r.id = er.release_id WHERE r.id IS NULL"), 0);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM releases WHERE project_id = {}",
            project.id
        )),
        deployed as i64
    );
}
