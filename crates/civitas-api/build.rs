//! Embeds the built web console (`web/dist`, made by `scripts/setup` with
//! `npm ci && npm run build` in `web/`) into the binary.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, root, out);
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    if !files.iter().any(|f| f == Path::new("index.html")) {
        println!(
            "cargo:warning=web/dist/index.html is missing: the console is not built, so the binary will serve none. Run scripts/setup (or: npm --prefix web ci && npm --prefix web run build)."
        );
    }
    let mut src = String::from(
        "/// Embedded console files: (path, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for f in &files {
        let abs = dist.join(f);
        println!("cargo:rerun-if-changed={}", abs.display());
        src.push_str(&format!(
            "    ({:?}, {:?}, include_bytes!({:?})),\n",
            f.to_string_lossy().replace('\\', "/"),
            content_type(f),
            abs.canonicalize()
                .unwrap_or(abs.clone())
                .display()
                .to_string()
        ));
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("assets.rs");
    std::fs::write(out, src).expect("writing assets.rs");
}
