//! The merged report, read back with an XML parser: hostile names and
//! messages survive, counts add up, a task's own outcome shows.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;
use testarena_events::Counts;

use super::*;

fn view(tasks: serde_json::Value) -> QueueView {
    serde_json::from_value(json!({
        "id": "smoke-0123456789ab", "status": "Finished",
        "source": {"repo": "/srv/fw", "ref": "0123456789ab"},
        "attempt": 1, "submitted_at": "2026-01-01T00:00:00Z",
        "cancel_requested": false, "counts": Counts::default(),
        "stages": [], "tasks": tasks,
    }))
    .unwrap()
}

fn case(name: &str, result: &str, message: Option<&str>) -> serde_json::Value {
    json!({"name": name, "classname": "suite", "time_ms": 1500, "result": result, "message": message})
}

fn task(id: &str, result: Option<&str>, cases: Vec<serde_json::Value>) -> serde_json::Value {
    let junit = (!cases.is_empty()).then(|| {
        json!({
            "tests": cases.len(), "failures": 0, "errors": 0, "skipped": 0,
            "failed_cases": [], "cases": cases,
        })
    });
    json!({
        "id": id, "scenario": format!("scenarios/{id}.scn"),
        "status": if result.is_some() { "Finished" } else { "Cancelled" },
        "result": result, "duration_ms": 2000, "message": "the task's message",
        "junit": junit,
    })
}

/// (element, attributes, text) of every element, attributes and text unescaped.
type Element = (String, Vec<(String, String)>, String);

fn parse(xml: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(xml);
    let mut elements: Vec<Element> = Vec::new();
    // The elements open now: text belongs to the innermost.
    let mut open: Vec<usize> = Vec::new();
    loop {
        let text = match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                open.push(elements.len());
                elements.push(element(&e));
                continue;
            }
            Event::Empty(e) => {
                elements.push(element(&e));
                continue;
            }
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Text(t) => t.into_inner().into_owned(),
            Event::GeneralRef(r) => {
                let resolved = r.resolve_char_ref().unwrap();
                match r.into_inner().as_ref() {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => resolved.expect("a character reference").to_string(),
                }
            }
            Event::Eof => return elements,
            _ => continue,
        };
        if let Some(&at) = open.last() {
            elements[at].2.push_str(&text);
        }
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Element {
    let attributes = e
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                a.key.as_ref().to_owned(),
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned(),
            )
        })
        .collect();
    (e.name().as_ref().to_owned(), attributes, String::new())
}

fn attr<'a>(element: &'a Element, key: &str) -> &'a str {
    &element.1.iter().find(|(k, _)| k == key).unwrap().1
}

#[test]
fn hostile_names_and_messages_read_back_unchanged() {
    let hostile = "a\"b'<c>&d]]></testcase><x/>\u{1}";
    let message = "line 1 <fail> & \"quoted\"\nline 2\ttabbed";
    let report = junit_report(&view(json!([task(
        "uart",
        Some("FAIL"),
        vec![case(hostile, "failed", Some(message))]
    )])));
    let elements = parse(&report);
    let testcase = elements.iter().find(|e| e.0 == "testcase").unwrap();
    // The control character XML cannot carry becomes U+FFFD; the rest is kept.
    assert_eq!(
        attr(testcase, "name"),
        "a\"b'<c>&d]]></testcase><x/>\u{FFFD}"
    );
    let failure = elements.iter().find(|e| e.0 == "failure").unwrap();
    assert_eq!(attr(failure, "message"), "line 1 <fail> & \"quoted\"");
    assert_eq!(failure.2, message);
    assert_eq!(elements.iter().filter(|e| e.0 == "testcase").count(), 1);
}

#[test]
fn one_suite_per_task_with_counts_that_add_up() {
    let report = junit_report(&view(json!([
        task(
            "uart",
            Some("FAIL"),
            vec![
                case("rx", "passed", None),
                case("tx", "failed", Some("expected 1")),
                case("dma", "skipped", Some("no DMA")),
                case("irq", "error", Some("crashed")),
            ]
        ),
        task("boot", Some("PASS"), vec![]),
        task("power", None, vec![]),
    ])));
    let elements = parse(&report);
    let root = &elements[0];
    assert_eq!(root.0, "testsuites");
    assert_eq!(attr(root, "name"), "smoke-0123456789ab");
    assert_eq!(
        [
            attr(root, "tests"),
            attr(root, "failures"),
            attr(root, "errors"),
            attr(root, "skipped")
        ],
        ["6", "1", "1", "2"]
    );
    let suites: Vec<&Element> = elements.iter().filter(|e| e.0 == "testsuite").collect();
    assert_eq!(suites.len(), 3);
    assert_eq!(attr(suites[0], "tests"), "4");
    assert_eq!(attr(suites[0], "time"), "6.000");
    // A task without cases is a case of its own: boot passed, power never ran.
    let cases: Vec<&Element> = elements.iter().filter(|e| e.0 == "testcase").collect();
    assert_eq!(attr(cases[4], "name"), "boot");
    assert_eq!(attr(cases[4], "classname"), "scenarios/boot.scn");
    assert_eq!(attr(cases[5], "name"), "power");
    assert!(elements
        .iter()
        .any(|e| e.0 == "skipped" && e.2 == "the task's message"));
}

#[test]
fn a_failed_task_whose_cases_passed_stays_red_and_quarantine_is_skipped() {
    let crashed = junit_report(&view(json!([task(
        "uart",
        Some("FAIL"),
        vec![case("rx", "passed", None)]
    )])));
    let elements = parse(&crashed);
    assert_eq!(attr(&elements[0], "failures"), "1");
    assert!(elements
        .iter()
        .any(|e| e.0 == "failure" && e.2 == "the task's message"));
    let mut quarantined = task(
        "uart",
        Some("FAIL"),
        vec![case("tx", "failed", Some("known"))],
    );
    quarantined["quarantined"] = json!(true);
    let report = junit_report(&view(json!([quarantined])));
    let elements = parse(&report);
    assert_eq!(attr(&elements[0], "failures"), "0");
    assert_eq!(attr(&elements[0], "skipped"), "1");
}

#[test]
fn an_empty_queue_is_an_empty_report() {
    let elements = parse(&junit_report(&view(json!([]))));
    assert_eq!(elements.len(), 1);
    assert_eq!(attr(&elements[0], "tests"), "0");
}
