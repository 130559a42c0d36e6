//! Embeds the RFC 4475 torture corpus and its manifest (corpora/sip/rfc4475)
//! so that tests, `speermint certify` and fuzz seeds share one copy.
use std::{env, fs, path::PathBuf};

fn main() {
    let dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../corpora/sip/rfc4475");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("corpora/sip/rfc4475 must exist")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    names.sort();
    let mut src = String::from(
        "/// The RFC 4475 messages by file name.\npub static RFC4475_FILES: &[(&str, &[u8])] = &[\n",
    );
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
        "/// The manifest text.\npub static RFC4475_MANIFEST: &str = include_str!({:?});\n",
        manifest.display().to_string()
    ));
    fs::write(
        PathBuf::from(env::var("OUT_DIR").unwrap()).join("corpus.rs"),
        src,
    )
    .unwrap();
}
