//! The architecture as the code has it: modules import only from layers
//! before them (no circles between files, nor between folders), and
//! `docs/design.md` lists every module there is and no module there is not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as a path relative to the repository.
fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect()
}

/// `src/engine/fetch.rs` is `engine::fetch`, `src/bench/mod.rs` is `bench`.
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix("src").ok()?.with_extension("");
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" || only == "main" => None,
        _ => Some(parts.join("::")),
    }
}

/// The code of a file without its unit tests, which may reach anywhere.
fn code_without_tests(file: &Path) -> String {
    let text = fs::read_to_string(root().join(file)).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The modules a file's code names through `crate::` paths, braces included.
fn imports(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        for path in expand(rest) {
            // The longest prefix of the path that is a module.
            let segments: Vec<&str> = path.split("::").collect();
            for len in (1..=segments.len()).rev() {
                let candidate = segments[..len].join("::");
                if modules.contains(&candidate) {
                    found.insert(candidate);
                    break;
                }
            }
        }
    }
    found
}

/// `a::b::{c, d::e}` -> `a::b::c`, `a::b::d::e`; `a::b` -> `a::b`.
fn expand(text: &str) -> Vec<String> {
    let path: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let path = path.trim_end_matches(':').to_string();
    let after = &text[path.len()..];
    let after = after.trim_start_matches(':');
    let Some(inner) = after.strip_prefix('{') else {
        return vec![path];
    };
    let mut depth = 0;
    let mut end = inner.len();
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                end = i;
                break;
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in split_top_level(&inner[..end]) {
        let item = item.trim();
        if item.is_empty() || item == "self" {
            out.push(path.clone());
            continue;
        }
        let joined = if path.is_empty() {
            item.to_string()
        } else {
            format!("{path}::{item}")
        };
        out.extend(expand(&joined));
    }
    out
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Module -> the modules it imports.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = source_files();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    files
        .iter()
        .filter_map(|file| {
            let module = module_of(file)?;
            let mut used = imports(&code_without_tests(file), &modules);
            used.remove(&module);
            Some((module, used))
        })
        .collect()
}

/// A cycle in `graph`, if there is one, as the path around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_import_graph_parses_what_it_should() {
    let modules: BTreeSet<String> = ["engine", "engine::job", "engine::pool", "ui::report"]
        .into_iter()
        .map(String::from)
        .collect();
    let code =
        "use crate::engine::{job::{Job, Outcome}, pool::Pool};\nlet x = crate::ui::report::f();";
    let found: Vec<String> = imports(code, &modules).into_iter().collect();
    assert_eq!(found, ["engine::job", "engine::pool", "ui::report"]);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "a"]);
}

#[test]
fn no_module_imports_in_a_circle() {
    let graph = import_graph();
    assert!(graph.contains_key("engine::fetch"), "{graph:?}");
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

#[test]
fn no_folder_imports_in_a_circle() {
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let top = |module: &str| module.split("::").next().unwrap().to_string();
    for (module, used) in import_graph() {
        let entry = folders.entry(top(&module)).or_default();
        entry.extend(used.iter().map(|u| top(u)).filter(|u| *u != top(&module)));
    }
    assert_eq!(find_cycle(&folders), None, "{folders:#?}");
    // The engine runs jobs; it never draws, prints or benchmarks.
    for below in ["ui", "bench", "download", "timing"] {
        assert!(!folders["engine"].contains(below), "engine imports {below}");
    }
}

#[test]
fn the_design_document_maps_every_module_and_only_those() {
    let design = fs::read_to_string(root().join("docs/design.md")).unwrap();
    let files: BTreeSet<String> = source_files()
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    for file in &files {
        assert!(
            design.contains(&format!("`{file}`")),
            "docs/design.md does not list `{file}`"
        );
    }
    for (at, _) in design.match_indices("`src/") {
        let named: String = design[at + 1..].chars().take_while(|c| *c != '`').collect();
        if named.ends_with(".rs") {
            assert!(
                files.contains(&named),
                "docs/design.md lists {named}, which does not exist"
            );
        }
    }
}
