//! The OpenAPI document as served at `/api/openapi.json`: generated from the
//! handlers, plus what poem-openapi cannot say — request bodies refuse
//! unknown fields (`additionalProperties: false`, as `StrictJson` does).
//! The document's paths are also the route table that the `Allow` header
//! of a 405 answer is read from, so the two cannot disagree.

use serde_json::Value;

/// Request body objects that reject unknown fields.
const CLOSED_OBJECTS: [&str; 3] = ["SubmitRequest", "SourceBody", "TaskBody"];

pub(crate) struct Document {
    json: String,
    /// (path template split in segments, `Allow` value)
    routes: Vec<(Vec<String>, String)>,
}

impl Document {
    pub(crate) fn from_spec(spec: &str) -> Self {
        let mut document: Value = serde_json::from_str(spec).unwrap_or_default();
        for name in CLOSED_OBJECTS {
            if let Some(schema) = document["components"]["schemas"].get_mut(name) {
                schema["additionalProperties"] = Value::Bool(false);
            }
        }
        let routes = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| {
                let methods: Vec<String> = operations
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(|m| m.to_uppercase())
                    .collect();
                (segments(path), methods.join(", "))
            })
            .collect();
        Self {
            json: serde_json::to_string_pretty(&document).unwrap_or_default(),
            routes,
        }
    }

    pub(crate) fn json(&self) -> &str {
        &self.json
    }

    /// The methods the document lists for a request path (`{id}` matches
    /// any one segment), as an `Allow` header value.
    pub(crate) fn allow(&self, path: &str) -> Option<&str> {
        let path = segments(path);
        self.routes
            .iter()
            .find(|(template, _)| {
                template.len() == path.len()
                    && template
                        .iter()
                        .zip(&path)
                        .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
            })
            .map(|(_, allow)| allow.as_str())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Document {
        Document::from_spec(&crate::api::service("").spec())
    }

    #[test]
    fn every_route_is_in_the_document_once_with_all_its_methods() {
        let spec = crate::api::service("").spec();
        // poem-openapi writes one entry per impl: a path split over two
        // impls would appear twice, and a JSON reader keeps only one.
        assert_eq!(spec.matches("\"/api/queue/{id}\":").count(), 1, "{spec}");
        let document = document();
        assert_eq!(document.allow("/api/queue/fw-1"), Some("DELETE, GET"));
        assert_eq!(document.allow("/api/queue"), Some("POST"));
        assert_eq!(document.allow("/api/queue/x/log/stream"), Some("GET"));
        assert_eq!(document.allow("/api/nothing/here"), None);
    }

    #[test]
    fn every_error_status_is_documented_on_the_routes() {
        let document: Value = serde_json::from_str(document().json()).unwrap();
        let submit = &document["paths"]["/api/queue"]["post"]["responses"];
        for status in [
            "200", "201", "202", "400", "401", "403", "409", "413", "415", "422", "503",
        ] {
            assert!(
                submit.get(status).is_some(),
                "POST /api/queue lacks {status}"
            );
        }
        let get = &document["paths"]["/api/queue/{id}"]["get"]["responses"];
        for status in ["200", "401", "403", "404", "503"] {
            assert!(
                get.get(status).is_some(),
                "GET /api/queue/{{id}} lacks {status}"
            );
        }
    }

    #[test]
    fn optional_view_fields_are_nullable_and_request_bodies_closed() {
        let document: Value = serde_json::from_str(document().json()).unwrap();
        let schemas = &document["components"]["schemas"];
        let view = &schemas["QueueView"]["properties"];
        for field in [
            "commit",
            "started_at",
            "finished_at",
            "worker",
            "reason",
            "profile",
            "verdict",
        ] {
            assert_eq!(view[field]["nullable"], true, "QueueView.{field}");
        }
        assert_eq!(
            schemas["TaskView"]["properties"]["exit_code"]["nullable"],
            true
        );
        assert_eq!(schemas["SubmitRequest"]["additionalProperties"], false);
    }
}
