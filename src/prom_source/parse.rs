//! Pure parsing of Prometheus's `/api/v1/query` replies: an instant vector (or a scalar) as
//! samples, anything else a clear error naming what was expected. Never panics on bad input.

use std::collections::BTreeMap;

use serde_json::Value;

/// One sample of an instant vector: its labels and value (NaN and infinite values are kept
/// as they parse; callers decide).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when Prometheus gives it).
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Why a reply could not be read as samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Prometheus answered `"status": "error"` (bad PromQL, a query that timed out inside).
    #[error("Prometheus refused the query ({kind}): {message}")]
    Refused {
        /// `errorType` (`bad_data`, `timeout`, `execution`, …).
        kind: String,
        /// `error`.
        message: String,
    },
    /// The body was not the documented shape.
    #[error("the reply is not {expected}: {found}")]
    Malformed {
        /// What the API documents at that place.
        expected: &'static str,
        /// What was there instead (shortened).
        found: String,
    },
}

fn malformed(expected: &'static str, found: &Value) -> ReplyError {
    let mut text = found.to_string();
    if text.len() > 120 {
        let mut cut = 117;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    ReplyError::Malformed {
        expected,
        found: text,
    }
}

/// The common reply, read straight into samples: a successful instant vector.
#[derive(serde::Deserialize)]
struct VectorReply {
    status: String,
    data: VectorData,
}

#[derive(serde::Deserialize)]
struct VectorData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<VectorSeries>,
}

#[derive(serde::Deserialize)]
struct VectorSeries {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// The samples of one `/api/v1/query` reply body.
///
/// A successful instant vector is read straight into samples: a whole fleet's reply can hold
/// hundreds of thousands of series, and a `serde_json::Value` tree of it first would more than
/// double the memory a round needs. Anything else (an error reply, a scalar, a malformed body)
/// goes through the general reader below, which says what was expected where.
pub fn parse_reply(body: &str) -> Result<Vec<Sample>, ReplyError> {
    if let Ok(reply) = serde_json::from_str::<VectorReply>(body)
        && reply.status == "success"
        && reply.data.result_type == "vector"
    {
        let samples: Option<Vec<Sample>> = reply
            .data
            .result
            .into_iter()
            .map(|s| {
                s.value.1.parse::<f64>().ok().map(|value| Sample {
                    labels: s.metric,
                    value,
                })
            })
            .collect();
        if let Some(samples) = samples {
            return Ok(samples);
        }
    }
    parse_general(body)
}

/// [`parse_reply`] through a `serde_json::Value`: every shape, with errors naming what the API
/// documents at the place that differs.
fn parse_general(body: &str) -> Result<Vec<Sample>, ReplyError> {
    let v: Value = serde_json::from_str(body).map_err(|e| ReplyError::Malformed {
        expected: "JSON",
        found: e.to_string(),
    })?;
    match v.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            return Err(ReplyError::Refused {
                kind: v
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                message: v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_string(),
            });
        }
        _ => {
            return Err(malformed(
                "an object with \"status\": \"success\" or \"error\"",
                &v,
            ));
        }
    }
    let data = v
        .get("data")
        .ok_or_else(|| malformed("an object with `data`", &v))?;
    let result = data
        .get("result")
        .ok_or_else(|| malformed("`data` with `result`", data))?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {
            let items = result
                .as_array()
                .ok_or_else(|| malformed("a vector result (an array)", result))?;
            items
                .iter()
                .map(|item| {
                    let labels = match item.get("metric") {
                        Some(Value::Object(m)) => m
                            .iter()
                            .map(|(k, v)| {
                                v.as_str()
                                    .map(|s| (k.clone(), s.to_string()))
                                    .ok_or_else(|| malformed("a label value (a string)", v))
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err(malformed("a series with `metric` labels", item)),
                    };
                    let value = point(
                        item.get("value")
                            .ok_or_else(|| malformed("a series with `value`", item))?,
                    )?;
                    Ok(Sample { labels, value })
                })
                .collect()
        }
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: point(result)?,
        }]),
        _ => Err(malformed(
            "an instant vector or scalar (`resultType`)",
            data.get("resultType").unwrap_or(&Value::Null),
        )),
    }
}

/// `[ <unix time>, "<value>" ]`.
fn point(v: &Value) -> Result<f64, ReplyError> {
    let pair = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| malformed("a [time, \"value\"] pair", v))?;
    let text = pair[1]
        .as_str()
        .ok_or_else(|| malformed("a value as a string", &pair[1]))?;
    // Prometheus writes NaN, +Inf and -Inf; Rust reads those spellings too.
    text.parse::<f64>()
        .map_err(|_| malformed("a number", &pair[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Prometheus 2.42 (`/api/v1/query?query=up`).
    const UP: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"127.0.0.1:39123","job":"node"},"value":[1765100000.123,"1"]},{"metric":{"__name__":"up","instance":"127.0.0.1:39999","job":"node"},"value":[1765100000.123,"0"]}]}}"#;

    #[test]
    fn the_direct_reader_and_the_general_one_agree() {
        let fast = parse_reply(UP).unwrap();
        assert_eq!(fast, parse_general(UP).unwrap());
        assert_eq!(fast.len(), 2);
        // A value that is not a number falls back to the general reader and its error.
        let bad = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#;
        assert!(
            parse_reply(bad)
                .unwrap_err()
                .to_string()
                .contains("a number")
        );
    }

    #[test]
    fn a_vector_reads_as_samples() {
        let s = parse_reply(UP).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["instance"], "127.0.0.1:39123");
        assert_eq!(s[0].value, 1.0);
        assert_eq!(s[1].value, 0.0);
    }

    #[test]
    fn a_scalar_and_special_values_read() {
        let s = parse_reply(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1765100000,"+Inf"]}}"#,
        )
        .unwrap();
        assert!(s[0].value.is_infinite());
        let s = parse_reply(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#).unwrap();
        assert!(s[0].value.is_nan());
    }

    #[test]
    fn an_error_reply_says_why() {
        let e = parse_reply(r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Prometheus refused the query (bad_data): 1:5: parse error: unexpected end of input"
        );
    }

    #[test]
    fn malformed_replies_are_errors_never_panics() {
        for (body, expected) in [
            ("", "JSON"),
            ("[]", "an object with \"status\""),
            (r#"{"status":"success"}"#, "an object with `data`"),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                "an instant vector",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
                "a vector result",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]}]}}"#,
                "a series with `metric`",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
                "a label value",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}"#,
                "a [time",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#,
                "a value as a string",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
                "a number",
            ),
        ] {
            let e = parse_reply(body).unwrap_err().to_string();
            assert!(e.contains(expected), "{body}: {e}");
        }
    }
}
