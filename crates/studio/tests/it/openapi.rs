//! The OpenAPI document and the docs page.

use serde_json::Value;
use studio_testkit::TestApp;

#[tokio::test]
async fn the_openapi_document_lists_every_operation_by_handler_name() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get_json("/api/openapi.json", None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations.push(format!(
                "{method} {path} {}",
                op["operationId"].as_str().unwrap()
            ));
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        vec![
            "delete /api/assets/{assetId} delete_asset",
            "delete /api/media/{assetId} abort_upload",
            "delete /api/projects/{projectId} delete_project",
            "delete /api/projects/{projectId}/members/{userId} delete_member",
            "delete /api/uppy/s3/multipart/{uploadId} abort_uppy_multipart_upload",
            "get /api/assets/{assetId} get_asset",
            "get /api/jobs/{jobId} get_job",
            "get /api/jobs/{jobId}/events stream_job_events",
            "get /api/me get_me",
            "get /api/media/{assetId}/parts list_uploaded_parts",
            "get /api/projects list_projects",
            "get /api/projects/{projectId} get_project",
            "get /api/projects/{projectId}/assets list_project_assets",
            "get /api/projects/{projectId}/members list_members",
            "get /api/projects/{projectId}/timeline get_timeline",
            "get /api/projects/{projectId}/timeline.otio export_timeline_otio",
            "get /api/projects/{projectId}/timeline/problems get_timeline_problems",
            "get /api/schema/project.json get_project_schema",
            "get /api/uppy/s3/multipart/{uploadId} list_uppy_parts",
            "get /api/uppy/s3/multipart/{uploadId}/{partNumber} sign_uppy_part",
            "get /api/uppy/s3/params get_uppy_upload_params",
            "get /health get_health",
            "get /problems list_problem_types",
            "get /problems/{code} get_problem_type",
            "get /ready get_ready",
            "patch /api/projects/{projectId} update_project",
            "post /api/ai/chat ai_chat",
            "post /api/ai/tts ai_tts",
            "post /api/assets/{assetId}/reprocess reprocess_asset",
            "post /api/assets/{assetId}/restore restore_asset_original",
            "post /api/media/upload-intent create_upload_intent",
            "post /api/media/{assetId}/complete complete_upload",
            "post /api/media/{assetId}/parts presign_parts",
            "post /api/projects create_project",
            "post /api/uppy/s3/multipart create_uppy_multipart_upload",
            "post /api/uppy/s3/multipart/{uploadId}/complete complete_uppy_multipart_upload",
            "post /api/webhooks/storage receive_storage_webhook",
            "put /api/projects/{projectId}/members/{userId} put_member",
            "put /api/projects/{projectId}/timeline put_timeline",
        ]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_docs_page_is_served_offline_with_its_own_policy() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("https:"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("/api/openapi.json") && html.contains("/docs/scalar.js"));
    assert!(
        !html.contains("https://"),
        "the page must not load anything from outside"
    );
    let js = app
        .client
        .get(app.url("/docs/scalar.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn every_problem_type_uri_describes_its_code() {
    let app = TestApp::spawn().await;
    let problem: Value = app.get_json("/nope", None).await;
    let described: Value = app
        .client
        .get(app.url(problem["type"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["code"], "route_not_found");
    assert_eq!(described["status"], 404);
    let all: Value = app.get_json("/problems", None).await;
    let codes: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    let unique: std::collections::HashSet<&&str> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len(), "codes are unique");
    assert!(codes.contains(&"validation_failed") && codes.contains(&"internal"));
}
