use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json)
}

fn shop() -> serde_json::Value {
    json!({
        "title": "Shop KPIs",
        "variables": [{"name": "service", "label": "job", "match": "shop_orders_total"}],
        "panels": [{"title": "Orders", "type": "stat", "unit": "short",
            "queries": [{"expr": "sum(rate(shop_orders_total{job=\"$service\"}[$__rate_interval]))"}],
            "grid": {"x": 0, "y": 0, "w": 6, "h": 4}}],
    })
}

#[tokio::test]
async fn create_read_update_list_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::router(crate::testing::state(crate::testing::store(dir.path())));
    let (status, created) = call(
        &app,
        "POST",
        "/lookout/v1/dashboards",
        Some(shop().to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "shop-kpis");
    assert_eq!(created["provisioned"], false);
    let (status, body) = call(
        &app,
        "POST",
        "/lookout/v1/dashboards",
        Some(shop().to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, read) = call(&app, "GET", "/lookout/v1/dashboards/shop-kpis", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let mut changed = read.clone();
    changed["title"] = json!("Shop");
    let (status, body) = call(
        &app,
        "PUT",
        "/lookout/v1/dashboards/shop-kpis",
        Some(changed.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "Shop");

    let (status, list) = call(&app, "GET", "/lookout/v1/dashboards", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["business", "shop-kpis"]);
    assert_eq!(list["dashboards"][0]["provisioned"], true);

    let (status, _) = call(&app, "DELETE", "/lookout/v1/dashboards/shop-kpis", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&app, "GET", "/lookout/v1/dashboards/shop-kpis", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("shop-kpis"));
}

#[tokio::test]
async fn provisioned_dashboards_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::router(crate::testing::state(crate::testing::store(dir.path())));
    let (status, business) = call(&app, "GET", "/lookout/v1/dashboards/business", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(business["file"], "examples/business.yaml");
    for (method, body) in [("PUT", Some(business.to_string())), ("DELETE", None)] {
        let (status, answer) = call(&app, method, "/lookout/v1/dashboards/business", body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains("provisioned from examples/business.yaml"),
            "{message}"
        );
    }
    let mut copy = business.clone();
    copy["id"] = json!("business");
    let (status, _) = call(
        &app,
        "POST",
        "/lookout/v1/dashboards",
        Some(copy.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    copy["id"] = json!("my-business");
    let (status, saved) = call(
        &app,
        "POST",
        "/lookout/v1/dashboards",
        Some(copy.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["provisioned"], false);
    assert!(saved.get("file").is_none());
}

#[tokio::test]
async fn bad_json_unknown_fields_and_bad_queries_are_400_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::router(crate::testing::state(crate::testing::store(dir.path())));
    let mut unknown = shop();
    unknown["panels"][0]["queries"][0]["exprr"] = json!("up");
    let mut bad_query = shop();
    bad_query["panels"][0]["queries"][0]["expr"] = json!("sum(rate(x[5m])");
    let mut bad_type = shop();
    bad_type["panels"][0]["type"] = json!("pie");
    for (body, expected) in [
        (
            "{\"title\": ".to_string(),
            "EOF while parsing a value at line 1",
        ),
        (
            unknown.to_string(),
            "panels[0].queries[0].exprr: unknown field `exprr`, expected `expr` or `legend`",
        ),
        (
            bad_type.to_string(),
            "panels[0].type: unknown variant `pie`",
        ),
        (
            bad_query.to_string(),
            "panels[0].queries[0].expr: unclosed left parenthesis",
        ),
        (json!({"title": ""}).to_string(), "title: must not be empty"),
    ] {
        let (status, answer) =
            call(&app, "POST", "/lookout/v1/dashboards", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    let (status, answer) = call(
        &app,
        "PUT",
        "/lookout/v1/dashboards/other",
        Some(json!({"id": "shop", "title": "x"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("id: "));
}
