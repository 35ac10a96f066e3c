//! What a checkpoint belongs to: the settings that determine a training trajectory, recorded in
//! every checkpoint and compared on resume, so a checkpoint is never continued by another model
//! or another optimisation.

use serde::Serialize;
use serde_json::{json, Value};

use super::TrainConfig;

/// The identity of a run: the model's own config (from the caller, `None` if it has none), the
/// seed, the training-set size and every `TrainConfig` value that changes the steps taken. The
/// budget (`steps`, `max_seconds`) and what is only observed or selected (`eval_every`,
/// `dev_subset`, `target_error`, `select_best`, `checkpoint_every`,
/// `max_nonfinite_in_a_row`) are left out, so a finished run can be extended to more steps.
pub fn run_identity(cfg: &TrainConfig, seed: u64, examples: usize, model: Option<&Value>) -> Value {
    json!({
        "model": model.cloned().unwrap_or(Value::Null),
        "seed": seed,
        "examples": examples,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "schedule": to_value(&cfg.schedule()),
        "clip": cfg.clip,
        "shards": cfg.shards,
        "augment": cfg.augment,
    })
}

fn to_value<S: Serialize>(s: &S) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// The first place where `found` and `want` differ, as "path: X in the file, Y here" (`None` if
/// they are equal). Objects are compared key by key in sorted order, arrays element by element.
pub fn first_difference(found: &Value, want: &Value) -> Option<String> {
    diff(found, want, String::new())
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "absent".to_string(), Value::to_string)
}

fn diff(found: &Value, want: &Value, path: String) -> Option<String> {
    let here = |p: &str| {
        if p.is_empty() {
            "(top level)".to_string()
        } else {
            p.to_string()
        }
    };
    match (found, want) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, p),
                    (x, y) => Some(format!("{p}: {} in the file, {} here", show(x), show(y))),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| diff(x, y, format!("{path}[{i}]"))),
        (a, b) if a == b => None,
        (a, b) => Some(format!("{}: {a} in the file, {b} here", here(&path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_path_of_the_first_mismatch() {
        let a = json!({"enc": {"heads": 4, "d": 64}, "seed": 1, "xs": [1, 2]});
        assert_eq!(first_difference(&a, &a), None);
        let b = json!({"enc": {"heads": 2, "d": 64}, "seed": 1, "xs": [1, 2]});
        assert_eq!(
            first_difference(&a, &b).unwrap(),
            "enc.heads: 4 in the file, 2 here"
        );
        let c = json!({"enc": {"heads": 4, "d": 64}, "seed": 1, "xs": [1, 3]});
        assert_eq!(
            first_difference(&a, &c).unwrap(),
            "xs[1]: 2 in the file, 3 here"
        );
        let d = json!({"enc": {"heads": 4, "d": 64}, "xs": [1, 2]});
        assert_eq!(
            first_difference(&a, &d).unwrap(),
            "seed: 1 in the file, absent here"
        );
        assert_eq!(
            first_difference(&json!([1]), &json!([1, 2])).unwrap(),
            "(top level): [1] in the file, [1,2] here"
        );
    }

    #[test]
    fn the_budget_is_not_part_of_the_identity_but_the_optimisation_is() {
        let cfg = TrainConfig {
            schedule: Some(TrainConfig::default().schedule()),
            ..Default::default()
        };
        let id = run_identity(&cfg, 3, 100, None);
        let longer = TrainConfig {
            steps: cfg.steps * 2,
            eval_every: 7,
            checkpoint_every: 9,
            ..cfg.clone()
        };
        assert_eq!(
            first_difference(&id, &run_identity(&longer, 3, 100, None)),
            None
        );
        let other_lr = TrainConfig {
            lr: cfg.lr * 2.0,
            ..cfg.clone()
        };
        let d = first_difference(&id, &run_identity(&other_lr, 3, 100, None)).unwrap();
        assert!(d.starts_with("lr: "), "{d}");
        let d = first_difference(&id, &run_identity(&cfg, 4, 100, None)).unwrap();
        assert!(d.starts_with("seed: 3"), "{d}");
        let m = json!({"heads": 4});
        let d = first_difference(&id, &run_identity(&cfg, 3, 100, Some(&m))).unwrap();
        assert!(d.starts_with("model: null"), "{d}");
    }
}
