//! The `--artifact` syntax of `stagecoach client release create`:
//! `name=reference[,url=…][,sha256=…]`, as a CI job writes it on one line.

use serde_json::{Value, json};

/// Reads one `--artifact` into the API's artifact object, or says what is
/// wrong with it.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut parts = text.split(',');
    let first = parts.next().unwrap_or_default();
    let (name, reference) = first.split_once('=').ok_or_else(|| {
        format!("--artifact {text:?}: write it as name=reference[,url=…][,sha256=…]")
    })?;
    let (name, reference) = (name.trim(), reference.trim());
    if name.is_empty() || reference.is_empty() {
        return Err(format!(
            "--artifact {text:?}: both a name and a reference are needed"
        ));
    }
    let mut artifact = json!({ "name": name, "reference": reference });
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("--artifact {text:?}: {part:?} is not key=value"))?;
        let key = key.trim();
        if !matches!(key, "url" | "sha256") {
            return Err(format!(
                "--artifact {text:?}: unknown key {key:?} (url or sha256)"
            ));
        }
        if artifact.get(key).is_some() {
            return Err(format!("--artifact {text:?}: {key} given twice"));
        }
        artifact[key] = Value::String(value.trim().to_owned());
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_name_and_reference_with_optional_url_and_digest() {
        assert_eq!(
            parse("web=registry/web:1.4.0").unwrap(),
            serde_json::json!({"name": "web", "reference": "registry/web:1.4.0"})
        );
        let full = parse("web=registry/web:1.4.0,url=https://x/y?a=b,sha256=abc").unwrap();
        assert_eq!(full["url"], "https://x/y?a=b");
        assert_eq!(full["sha256"], "abc");
    }

    #[test]
    fn what_is_wrong_is_said() {
        for bad in [
            "",
            "web",
            "=ref",
            "web=",
            "web=r,colour=red",
            "web=r,url",
            "web=r,url=a,url=b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
