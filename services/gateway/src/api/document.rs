//! The OpenAPI document as served at `/api/openapi.json`: generated from the
//! handlers, plus what poem-openapi cannot say — request bodies refuse
//! unknown fields (`additionalProperties: false`, as `StrictJson` does).
//! The document's paths are also the route table that the `Allow` header
//! of a 405 answer is read from, so the two cannot disagree.

use serde_json::Value;

use super::request_examples;

/// Request body objects that reject unknown fields.
const CLOSED_OBJECTS: [&str; 11] = [
    "SubmitRequest",
    "RerunRequest",
    "SourceBody",
    "TaskBody",
    "QuarantineRequest",
    "UnquarantineRequest",
    "BisectRequest",
    "BisectSourceBody",
    "BisectTaskBody",
    "ReserveRequest",
    "PowerBody",
];

pub(crate) struct Document {
    json: String,
    routes: Vec<RouteEntry>,
}

/// One path of the document.
struct RouteEntry {
    /// The path template split in segments (`{id}` matches any one).
    template: Vec<String>,
    /// Its methods, as an `Allow` header value.
    allow: String,
    /// (upper-case method, the names of its query parameters)
    query: Vec<(String, Vec<String>)>,
}

impl Document {
    /// `example_repo`: the repository the request examples name
    /// (request_examples.rs).
    pub(crate) fn from_spec(spec: &str, example_repo: &str) -> Self {
        let mut document: Value = serde_json::from_str(spec).unwrap_or_default();
        for name in CLOSED_OBJECTS {
            if let Some(schema) = document["components"]["schemas"].get_mut(name) {
                schema["additionalProperties"] = Value::Bool(false);
            }
        }
        for (path, method, example) in request_examples::examples(example_repo) {
            let body = document["paths"][path][method]["requestBody"]["content"]
                .get_mut("application/json");
            if let Some(body) = body {
                body["example"] = example;
            }
        }
        let routes = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| route_entry(path, operations))
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
        self.route(path).map(|route| route.allow.as_str())
    }

    /// The query parameters a documented operation takes; `None` for a
    /// path or method the document does not have.
    pub(crate) fn query_names(&self, path: &str, method: &str) -> Option<&[String]> {
        self.route(path)?
            .query
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, names)| names.as_slice())
    }

    fn route(&self, path: &str) -> Option<&RouteEntry> {
        let path = segments(path);
        self.routes.iter().find(|route| {
            route.template.len() == path.len()
                && route
                    .template
                    .iter()
                    .zip(&path)
                    .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
        })
    }
}

fn route_entry(path: &str, operations: &Value) -> RouteEntry {
    let operations = operations.as_object().into_iter().flatten();
    let query = operations
        .map(|(method, operation)| {
            let names = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            (method.to_uppercase(), names)
        })
        .collect::<Vec<(String, Vec<String>)>>();
    let allow = query
        .iter()
        .map(|(m, _)| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    RouteEntry {
        template: segments(path),
        allow,
        query,
    }
}

/// poem-openapi's Swagger UI page showing `document` (the served one, its
/// examples included) instead of the spec it generated: the page's
/// `let spec = …;` is replaced. The page unchanged if it has no such line.
pub(crate) fn swagger_html(page: &str, document: &str) -> String {
    const START: &str = "let spec = ";
    const END: &str = ";\n    let oauth2RedirectUrl";
    let Some(start) = page.find(START).map(|i| i + START.len()) else {
        return page.to_owned();
    };
    let Some(end) = page[start..].find(END).map(|i| start + i) else {
        return page.to_owned();
    };
    format!("{}{document}{}", &page[..start], &page[end..])
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
        Document::from_spec(&crate::api::service("").spec(), "/repo")
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
        let list = document.query_names("/api/queues", "GET").unwrap();
        for name in [
            "status", "page", "per_page", "repo", "ref", "commit", "profile", "q", "bisect",
        ] {
            assert!(list.iter().any(|n| n == name), "{name} in {list:?}");
        }
        assert_eq!(document.query_names("/api/queues", "POST"), None);
    }

    #[test]
    fn swagger_ui_shows_the_served_document() {
        let api = crate::api::service("");
        let document = document();
        let page = swagger_html(&api.swagger_ui_html(), document.json());
        assert!(
            page.contains(document.json()),
            "the served document is in the page"
        );
        assert!(page.contains("SwaggerUIBundle"));
    }

    #[test]
    fn every_request_body_has_an_example() {
        let document: Value = serde_json::from_str(document().json()).unwrap();
        let mut bodies = 0;
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let Some(body) = operation["requestBody"]["content"].get("application/json") else {
                    continue;
                };
                bodies += 1;
                assert!(
                    body.get("example").is_some(),
                    "{method} {path} has no example"
                );
            }
        }
        assert!(bodies >= 5, "{bodies} request bodies");
        let submit = &document["paths"]["/api/queue"]["post"]["requestBody"]["content"];
        assert_eq!(
            submit["application/json"]["example"]["source"]["repo"],
            "/repo"
        );
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
        for closed in ["BisectRequest", "BisectSourceBody", "BisectTaskBody"] {
            assert_eq!(schemas[closed]["additionalProperties"], false, "{closed}");
        }
        let bisect = &schemas["BisectView"]["properties"];
        for field in ["good", "first_bad", "reason", "ended_at", "good_ref"] {
            assert_eq!(bisect[field]["nullable"], true, "BisectView.{field}");
        }
    }

    #[test]
    fn the_view_words_are_listed_as_enums() {
        let document: Value = serde_json::from_str(document().json()).unwrap();
        let schemas = &document["components"]["schemas"];
        let words = |name: &str| schemas[name]["enum"].clone();
        assert_eq!(
            words("QueueStatus"),
            serde_json::json!(["Waiting", "Running", "Finished", "Error", "Cancelled"])
        );
        assert_eq!(
            words("TaskResult"),
            serde_json::json!(["PASS", "FAIL", "TIMEOUT", "ERROR", "FLAKY"])
        );
        assert_eq!(
            words("Priority"),
            serde_json::json!(["high", "normal", "low"])
        );
        for (object, field, schema) in [
            ("QueueView", "status", "QueueStatus"),
            ("QueueView", "priority", "Priority"),
            ("TaskView", "result", "TaskResult"),
            ("TryView", "result", "TaskResult"),
        ] {
            let reference = &schemas[object]["properties"][field]["allOf"][0]["$ref"];
            let expected = format!("#/components/schemas/{schema}");
            assert_eq!(reference, expected.as_str(), "{object}.{field}");
        }
    }
}
