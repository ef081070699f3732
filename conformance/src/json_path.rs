//! The small JSON path dialect of conformance assertions: `$`, `.name`, `[N]`, and `.length` on
//! arrays, objects and strings.

use serde_json::Value;

/// Evaluates `path` against `root`; `Err` explains which segment did not resolve.
pub fn eval(root: &Value, path: &str) -> Result<Value, String> {
    let rest = path.strip_prefix('$').ok_or_else(|| format!("path {path:?} must start with $"))?;
    let mut current = root.clone();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&(_, n)) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() {
                    return Err(format!("empty segment at offset {i} of {path:?}"));
                }
                current = match (&current, name.as_str()) {
                    (Value::Object(m), key) if m.contains_key(key) => m[key].clone(),
                    (Value::Array(a), "length") => Value::from(a.len()),
                    (Value::Object(m), "length") => Value::from(m.len()),
                    (Value::String(s), "length") => Value::from(s.chars().count()),
                    _ => return Err(format!("{path}: no member {name:?} at offset {i}")),
                };
            }
            '[' => {
                let mut digits = String::new();
                for (_, n) in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    digits.push(n);
                }
                let idx: usize = digits.trim().parse().map_err(|_| format!("{path}: bad index [{digits}]"))?;
                current = match &current {
                    Value::Array(a) if idx < a.len() => a[idx].clone(),
                    _ => return Err(format!("{path}: no element [{idx}]")),
                };
            }
            other => return Err(format!("{path}: unexpected {other:?} at offset {i}")),
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::eval;
    use serde_json::json;

    #[test]
    fn evaluates_members_indices_and_length() {
        let v = json!({"stats": {"nodesCount": 5}, "nodes": [{"path": "a"}, {"path": "b"}]});
        assert_eq!(eval(&v, "$.stats.nodesCount"), Ok(json!(5)));
        assert_eq!(eval(&v, "$.nodes[1].path"), Ok(json!("b")));
        assert_eq!(eval(&v, "$.nodes.length"), Ok(json!(2)));
        assert_eq!(eval(&v, "$"), Ok(v.clone()));
        assert!(eval(&v, "$.missing").is_err());
        assert!(eval(&v, "$.nodes[9]").is_err());
    }
}
