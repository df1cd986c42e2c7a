//! The CLI client's `--artifact name=reference[,url=…][,sha256=…]`: any
//! text parses or says why (starting `--artifact `); what parses has a
//! name and a reference, and written back in the syntax parses to the
//! same artifact; an artifact the syntax can carry survives format→parse.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use stagecoach::fuzzing::client_artifact as parse;

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Text(&'a str),
    Artifact {
        name: &'a str,
        reference: &'a str,
        url: Option<&'a str>,
        sha256: Option<&'a str>,
        sha_first: bool,
    },
}

/// The artifact in the `--artifact` syntax.
fn format(artifact: &Value, sha_first: bool) -> String {
    let mut text = format!(
        "{}={}",
        artifact["name"].as_str().expect("a name"),
        artifact["reference"].as_str().expect("a reference")
    );
    let mut keys = ["url", "sha256"];
    if sha_first {
        keys.reverse();
    }
    for key in keys {
        if let Some(value) = artifact.get(key) {
            text.push_str(&format!(",{key}={}", value.as_str().expect("text")));
        }
    }
    text
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(text) => match parse(text) {
        Ok(artifact) => {
            assert!(artifact["name"].as_str().is_some_and(|n| !n.is_empty()));
            assert!(
                artifact["reference"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty())
            );
            let again = format(&artifact, false);
            assert_eq!(
                parse(&again).as_ref(),
                Ok(&artifact),
                "{text:?} → {again:?}"
            );
        }
        Err(why) => assert!(why.starts_with("--artifact "), "{why}"),
    },
    Input::Artifact {
        name,
        reference,
        url,
        sha256,
        sha_first,
    } => {
        // What the syntax can carry: no `,` anywhere, no `=` in the name,
        // nothing around a value that trimming would take off.
        let fits = |v: &str| !v.contains(',') && v.trim() == v;
        let carried = fits(name)
            && !name.is_empty()
            && !name.contains('=')
            && fits(reference)
            && !reference.is_empty()
            && url.is_none_or(fits)
            && sha256.is_none_or(fits);
        if !carried {
            return;
        }
        let mut artifact = json!({ "name": name, "reference": reference });
        if let Some(url) = url {
            artifact["url"] = json!(url);
        }
        if let Some(sha256) = sha256 {
            artifact["sha256"] = json!(sha256);
        }
        let text = format(&artifact, sha_first);
        assert_eq!(parse(&text).as_ref(), Ok(&artifact), "{text:?}");
    }
});
