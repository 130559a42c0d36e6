//! Embeds the RFC 4475 and RFC 5118 torture corpora and their manifests
//! so that tests, `speermint certify` and fuzz seeds share one copy.
use std::{env, fs, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("sip");
    let mut src = String::new();
    for set in ["rfc4475", "rfc5118"] {
        let dir = root.join(set);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".dat"))
            .collect();
        names.sort();
        let upper = set.to_uppercase();
        src.push_str(&format!("/// The {set} messages by file name.\npub static {upper}_FILES: &[(&str, &[u8])] = &[\n"));
        for n in &names {
            let path = dir.join(n).canonicalize().unwrap();
            println!("cargo:rerun-if-changed={}", path.display());
            src.push_str(&format!(
                "    ({n:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
        src.push_str("];\n");
        let manifest = dir.join("manifest.toml").canonicalize().unwrap();
        println!("cargo:rerun-if-changed={}", manifest.display());
        src.push_str(&format!(
            "/// The {set} manifest text.\npub static {upper}_MANIFEST: &str = include_str!({:?});\n",
            manifest.display().to_string()
        ));
    }
    fs::write(
        PathBuf::from(env::var("OUT_DIR").unwrap()).join("corpus.rs"),
        src,
    )
    .unwrap();
}
