//! Dashboards of PromQL panels: `/lookout/v1/dashboards` (list, create), and
//! `/lookout/v1/dashboards/{id}` (read, replace, delete). Saved dashboards live in storage
//! ([`DashboardStore`]); provisioned ones come from YAML files named in the configuration
//! (`dashboards.files`, as Grafana provisions them) and from the examples Lookout ships, and
//! are read-only (403): copy one under a new id to change it.

mod model;
mod provision;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_storage::DashboardStore;
use serde_json::json;

pub use model::{Dashboard, Grid, Panel, PanelQuery, PanelType, Threshold, Variable};
pub use provision::{load_files, DashboardsConfig, EXAMPLES};

use crate::traces::blocking;
use crate::ApiError;

/// Saved dashboards at most (a create past it is refused).
pub const MAX_SAVED: usize = 1000;

/// The dashboard side of the API.
#[derive(Clone)]
pub struct Dashboards {
    pub store: Arc<dyn DashboardStore>,
    /// Provisioned dashboards, by id (read-only).
    pub provisioned: Arc<Vec<Dashboard>>,
}

impl Dashboards {
    fn provisioned(&self, id: &str) -> Option<&Dashboard> {
        self.provisioned.iter().find(|d| d.id == id)
    }

    fn saved(&self, id: &str) -> Result<Option<Dashboard>, ApiError> {
        match self.store.dashboard(id)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::Internal(format!("stored dashboard {id:?}: {e}"))),
            None => Ok(None),
        }
    }

    fn read_only(&self, id: &str) -> Result<(), ApiError> {
        match self.provisioned(id) {
            Some(d) => Err(ApiError::Forbidden(format!(
                "dashboard {id:?} is provisioned from {} and read-only: edit that file, or save a copy under another id",
                d.file.as_deref().unwrap_or("the examples Lookout ships")
            ))),
            None => Ok(()),
        }
    }
}

/// A dashboard from a request body: JSON errors name the field and where it is.
fn parse(body: &[u8]) -> Result<Dashboard, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let mut dashboard: Dashboard = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = format!("line {} column {}", inner.line(), inner.column());
        if path == "." {
            ApiError::bad(format!("invalid dashboard JSON at {at}: {inner}"))
        } else {
            ApiError::bad(format!("invalid dashboard JSON: {path}: {inner}"))
        }
    })?;
    dashboard.provisioned = false;
    dashboard.file = None;
    Ok(dashboard)
}

fn check(dashboard: &Dashboard) -> Result<(), ApiError> {
    let problems = dashboard.validate();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad(problems.join("; ")))
    }
}

fn summary(d: &Dashboard) -> serde_json::Value {
    json!({
        "id": d.id, "title": d.title, "description": d.description, "tags": d.tags,
        "panels": d.panels.len(), "provisioned": d.provisioned, "file": d.file,
    })
}

/// `GET /lookout/v1/dashboards`: provisioned and saved, ordered by title.
pub async fn list(State(api): State<Dashboards>) -> Result<Json<serde_json::Value>, ApiError> {
    let saved = blocking({
        let api = api.clone();
        move || Ok(api.store.dashboards()?)
    })
    .await?;
    let mut all: Vec<serde_json::Value> = api.provisioned.iter().map(summary).collect();
    for (id, bytes) in saved {
        if api.provisioned(&id).is_some() {
            continue;
        }
        match serde_json::from_slice::<Dashboard>(&bytes) {
            Ok(d) => all.push(summary(&d)),
            Err(e) => tracing::warn!(id, error = %e, "unreadable stored dashboard skipped"),
        }
    }
    all.sort_by(|a, b| {
        let key = |v: &serde_json::Value| v["title"].as_str().unwrap_or("").to_lowercase();
        key(a).cmp(&key(b))
    });
    Ok(Json(json!({ "dashboards": all })))
}

/// `GET /lookout/v1/dashboards/{id}`.
pub async fn get(
    State(api): State<Dashboards>,
    Path(id): Path<String>,
) -> Result<Json<Dashboard>, ApiError> {
    if let Some(d) = api.provisioned(&id) {
        return Ok(Json(d.clone()));
    }
    blocking(move || api.saved(&id)?.ok_or_else(|| not_found(&id)))
        .await
        .map(Json)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no dashboard {id:?}"))
}

/// `POST /lookout/v1/dashboards`: creates one (201); its id from the title when it has none.
pub async fn create(State(api): State<Dashboards>, body: Bytes) -> Result<Response, ApiError> {
    let mut dashboard = parse(&body)?;
    if dashboard.id.is_empty() {
        dashboard.id = model::slug(&dashboard.title);
    }
    check(&dashboard)?;
    api.read_only(&dashboard.id)?;
    let saved = blocking(move || {
        if api.saved(&dashboard.id)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "a dashboard {:?} exists: PUT /lookout/v1/dashboards/{} to replace it, or choose another id",
                dashboard.id, dashboard.id
            )));
        }
        if api.store.dashboards()?.len() >= MAX_SAVED {
            return Err(ApiError::bad(format!(
                "{MAX_SAVED} dashboards are saved already: delete one first"
            )));
        }
        put(&api, &dashboard)?;
        Ok(dashboard)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

fn put(api: &Dashboards, d: &Dashboard) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(d)
        .map_err(|e| ApiError::Internal(format!("encoding dashboard: {e}")))?;
    api.store.put_dashboard(&d.id, &bytes)?;
    Ok(())
}

/// `PUT /lookout/v1/dashboards/{id}`: creates or replaces it.
pub async fn replace(
    State(api): State<Dashboards>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Dashboard>, ApiError> {
    api.read_only(&id)?;
    let mut dashboard = parse(&body)?;
    if dashboard.id.is_empty() {
        dashboard.id = id.clone();
    }
    if dashboard.id != id {
        return Err(ApiError::bad(format!(
            "id: {:?} differs from the id in the path ({id:?})",
            dashboard.id
        )));
    }
    check(&dashboard)?;
    blocking(move || {
        put(&api, &dashboard)?;
        Ok(dashboard)
    })
    .await
    .map(Json)
}

/// `DELETE /lookout/v1/dashboards/{id}` (204).
pub async fn delete(
    State(api): State<Dashboards>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.read_only(&id)?;
    blocking(move || {
        if api.store.delete_dashboard(&id)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(not_found(&id))
        }
    })
    .await
}

#[cfg(test)]
mod tests;
