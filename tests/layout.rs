//! The workspace's shape: crates depend one way (cargo refuses cycles), and
//! inside each crate no two modules import each other, directly or round a
//! circle. A circle is what let eleven modules grow into one knot before;
//! this finds the next one when it is one edge long.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// The module path of a source file under `src`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source without `//` comments (doc comments name other modules freely)
/// and without its inline test module (`#[cfg(test)] mod tests`, last in
/// the file by habit), whose `super::` is the file's own module.
fn code(text: &str) -> String {
    let code = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    match code.find("#[cfg(test)]\nmod ") {
        Some(at) => code[..at].to_string(),
        None => code,
    }
}

/// The paths a module names through `crate::`, `super::` and `self::`,
/// braces expanded one level (`use crate::{a::X, b}` names `a::X` and `b`).
fn named_paths(code: &str, here: &Module) -> Vec<Module> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(anchor) {
            let start = from + at;
            from = start + anchor.len();
            let before = start.checked_sub(1).map(|i| bytes[i] as char);
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base: Module = match anchor {
                "crate::" => Vec::new(),
                "super::" => here[..here.len().saturating_sub(1)].to_vec(),
                _ => here.clone(),
            };
            let mut rest = &code[from..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let tails: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').collect()
            } else {
                vec![rest]
            };
            for tail in tails {
                let mut path = base.clone();
                for seg in tail.trim().split("::") {
                    let ident: String = seg
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if ident.is_empty() {
                        break;
                    }
                    path.push(ident);
                }
                out.push(path);
            }
        }
    }
    out
}

/// Module → the modules it imports from, for the crate whose sources are
/// under `src`. Test modules (`tests.rs`, `tests/`) are left out: they may
/// reach anywhere.
fn import_graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        if module.iter().any(|m| m == "tests") {
            continue;
        }
        let text = code(&fs::read_to_string(file).unwrap());
        let mut to = BTreeSet::new();
        for path in named_paths(&text, module) {
            // The longest prefix that is a module file is the one imported.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p));
            if let Some(t) = target {
                if &t != module && !t.iter().any(|m| m == "tests") {
                    to.insert(t);
                }
            }
        }
        graph.insert(module.clone(), to);
    }
    graph
}

/// The import circles of `graph`: its strongly connected components with
/// more than one module (Tarjan's algorithm).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, (usize, usize)>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(w: &mut Walk<'g>, m: &'g Module) {
        let n = w.index.len();
        w.index.insert(m, (n, n));
        w.stack.push(m);
        for t in w.graph.get(m).into_iter().flatten() {
            let low = match w.index.get(t) {
                None => {
                    visit(w, t);
                    w.index[t].1
                }
                Some(&(i, _)) if w.stack.contains(&t) => i,
                Some(_) => continue,
            };
            let e = w.index.get_mut(m).unwrap();
            e.1 = e.1.min(low);
        }
        let (i, low) = w.index[m];
        if i == low {
            let mut comp = Vec::new();
            while let Some(x) = w.stack.pop() {
                comp.push(if x.is_empty() {
                    "<root>".into()
                } else {
                    x.join("::")
                });
                if x == m {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                w.found.push(comp);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for m in graph.keys() {
        if !w.index.contains_key(m) {
            visit(&mut w, m);
        }
    }
    w.found
}

#[test]
fn no_crate_has_a_module_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut srcs = vec![root.join("src")];
    for entry in fs::read_dir(root.join("crates")).unwrap() {
        srcs.push(entry.unwrap().path().join("src"));
    }
    assert!(srcs.len() >= 5, "the workspace's crates were not found");
    for src in srcs {
        let graph = import_graph(&src);
        assert!(!graph.is_empty(), "{}: no sources read", src.display());
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{}: modules import each other: {found:?}",
            src.display()
        );
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    fs::create_dir(src.join("b")).unwrap();
    // a -> b::inner (grouped, through a child file) -> c -> a (via super::).
    fs::write(src.join("a.rs"), "use crate::{b::inner::X, c};\n").unwrap();
    fs::write(src.join("b/mod.rs"), "pub mod inner;\n").unwrap();
    fs::write(
        src.join("b/inner.rs"),
        "// crate::a in a comment is no import\nuse crate::c::Y;\n",
    )
    .unwrap();
    fs::write(
        src.join("c.rs"),
        "fn f() { super::a::g(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    )
    .unwrap();
    let found = circles(&import_graph(src));
    assert_eq!(
        found,
        vec![vec!["a".to_string(), "b::inner".into(), "c".into()]]
    );

    // Cut one edge and the circle is gone (the test module's `super::*`
    // is c itself, no edge).
    fs::write(
        src.join("c.rs"),
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    )
    .unwrap();
    assert!(circles(&import_graph(src)).is_empty());
}
