//! Keeps the dependency direction of `docs/architecture.md` true: reads the
//! `src/` tree, builds the graph of top-level modules from `crate::…` paths
//! and fails on any cycle, and on a service that reaches up into the layers
//! that use it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> the top-level modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The layers above the call's children and services: nothing below may
/// name them (HTTP → Twilio stream → CallActor → services).
const UPPER: &[&str] = &["app", "simulate", "http", "media_stream", "call"];

/// The services and children a call uses, and what they stand on.
const SERVICES: &[&str] = &[
    "business",
    "calendar",
    "codec",
    "config",
    "flight",
    "instructions",
    "integrations",
    "logmask",
    "metrics",
    "notify",
    "privacy",
    "realtime",
    "recorder",
    "session",
    "sip",
    "store",
    "tools",
    "twilio",
    "voicemail",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/call/actor.rs` -> `call`; `src/engine.rs` -> `engine`; the crate
/// roots (`lib.rs`, `main.rs`) belong to no module.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code of a file without its `//` comments (doc comments name modules
/// in prose; that is not a dependency).
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // `"http://…"` in a string is code, not a comment.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named by `crate::x…` and `use crate::{x, y::z}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // `frontdesk_crate::` or `mycrate::` are not this crate.
        if code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        let id = ident_at(&group[j..]);
                        if !id.is_empty() && id != "self" {
                            out.insert(id.to_string());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.insert(id.to_string());
            }
        }
    }
    out
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let Some(module) = top_module(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let deps = graph.entry(module.clone()).or_default();
        for dep in named_modules(&code_only(&text)) {
            if dep != module {
                deps.insert(dep);
            }
        }
    }
    graph
}

/// One cycle of the graph, as a path that starts and ends at the same
/// module, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn src_graph() -> Graph {
    graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = src_graph();
    assert!(graph.contains_key("call"), "src/ not read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "module cycle: {}\n(see docs/architecture.md for the direction of dependencies)",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn services_never_reach_up() {
    let graph = src_graph();
    let mut wrong = Vec::new();
    for service in SERVICES {
        for dep in graph.get(*service).into_iter().flatten() {
            if UPPER.contains(&dep.as_str()) || !graph.contains_key(dep) {
                wrong.push(format!("{service} -> {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "services name a layer above them (or a module that is gone): {wrong:?}"
    );
}

/// Errors are typed (`thiserror`) inside the engine; `anyhow` is for the
/// binary's edge only.
#[test]
fn anyhow_only_at_the_binary_edge() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let users: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .filter(|f| {
            // Spelled in two pieces so that this file does not match itself.
            code_only(&std::fs::read_to_string(f).unwrap_or_default())
                .contains(concat!("anyhow", "::"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(users.is_empty(), "anyhow outside main.rs: {users:?}");
}

#[test]
fn the_reader_sees_paths_groups_and_cycles() {
    let code = code_only(
        "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\n// crate::comment\n\
         let u = \"http://x\"; crate::f::g();\nfrontdesk_crate::h;",
    );
    let found: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "f"]);

    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default();
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
