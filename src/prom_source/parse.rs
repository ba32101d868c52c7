//! Pure parsing of Prometheus's `/api/v1/query` replies: an instant vector (or a scalar) as
//! samples, anything else a clear error naming what was expected. Never panics on bad input.
use std::sync::Arc;

use rustc_hash::FxHashSet;

use serde_json::Value;

/// One sample of an instant vector: its labels and value (NaN and infinite values are kept
/// as they parse; callers decide).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when Prometheus gives it and it is kept).
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// One copy of each label string of a round, shared by its samples ([`Labels::intern`]).
pub type StringPool = FxHashSet<Arc<str>>;

/// A series' labels, sorted by name.
///
/// A sorted vector rather than a `BTreeMap`: a round of a 10,000-host fleet holds ~340,000
/// samples with one to three labels kept each, and a map allocates a whole node (over 500
/// bytes) for even one entry — measured, that was 90 MB of the round's peak. Names and values
/// are shared strings so that a round can keep one copy of each (`"/"`, `"/dev/vda1"`,
/// `"running"`) for all its hosts ([`Labels::intern`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<(Arc<str>, Arc<str>)>);

impl Labels {
    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// Sets label `name` (a later value for the same name wins, as in a JSON object).
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) {
        let name = name.into();
        match self.0.binary_search_by(|(k, _)| k.cmp(&name)) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (name, value.into())),
        }
    }

    /// Keeps only the labels whose name `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|(k, _)| keep(k));
    }

    /// Replaces every name and value by its copy in `pool` (adding those not there yet), so
    /// that equal strings across a round's samples are held once; trims the spare capacity.
    pub fn intern(&mut self, pool: &mut StringPool) {
        let mut shared = |s: &mut Arc<str>| match pool.get(s) {
            Some(kept) => *s = Arc::clone(kept),
            None => {
                pool.insert(Arc::clone(s));
            }
        };
        for (k, v) in &mut self.0 {
            shared(k);
            shared(v);
        }
        self.0.shrink_to_fit();
    }

    /// The label names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    /// The labels as (name, value), sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut labels = Labels::default();
        for (k, v) in iter {
            labels.insert(k, v);
        }
        labels
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = str;
    fn index(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("no label {name:?}"))
    }
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

/// The samples of one `/api/v1/query` reply body, every label kept.
pub fn parse_reply(body: &str) -> Result<Vec<Sample>, ReplyError> {
    parse_reply_keeping(body, &|_| true)
}

/// The samples of one `/api/v1/query` reply body, keeping only the labels `keep` accepts.
///
/// A successful instant vector is read straight into samples, and a label nobody reads is
/// never allocated: a whole fleet's reply holds hundreds of thousands of series, each with
/// `__name__`, `job` and the exporter's labels, and a `serde_json::Value` tree or a full label
/// map of them first would more than double the memory a round needs. Anything else (an error
/// reply, a scalar, a malformed body) goes through the general reader below, which says what
/// was expected where.
pub fn parse_reply_keeping(
    body: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Sample>, ReplyError> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(body);
    if let Ok(Some(samples)) = (direct::Reply { keep }).deserialize(&mut de)
        && de.end().is_ok()
    {
        return Ok(samples);
    }
    let mut samples = parse_general(body)?;
    for s in &mut samples {
        s.labels.retain(keep);
    }
    Ok(samples)
}

/// The direct reader: serde seeds that carry the label filter down to each series' `metric`.
/// `Ok(None)` is "not a successful vector" (the general reader then says what it is).
mod direct {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{Labels, Sample};

    /// A string borrowed from the body when it has no escapes.
    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

    pub(super) struct Reply<'k> {
        pub(super) keep: &'k dyn Fn(&str) -> bool,
    }

    impl<'de> DeserializeSeed<'de> for Reply<'_> {
        type Value = Option<Vec<Sample>>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Reply<'_> {
        type Value = Option<Vec<Sample>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a query reply object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut success, mut samples) = (false, None);
            while let Some(key) = map.next_key::<Text<'de>>()? {
                match key.0.as_ref() {
                    "status" => success = map.next_value::<Text<'de>>()?.0 == "success",
                    "data" => samples = map.next_value_seed(Data { keep: self.keep })?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(samples.filter(|_| success))
        }
    }

    struct Data<'k> {
        keep: &'k dyn Fn(&str) -> bool,
    }

    impl<'de> DeserializeSeed<'de> for Data<'_> {
        type Value = Option<Vec<Sample>>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Data<'_> {
        type Value = Option<Vec<Sample>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a `data` object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut vector, mut samples) = (false, None);
            while let Some(key) = map.next_key::<Text<'de>>()? {
                match key.0.as_ref() {
                    "resultType" => vector = map.next_value::<Text<'de>>()?.0 == "vector",
                    "result" => samples = Some(map.next_value_seed(Series { keep: self.keep })?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(samples.filter(|_| vector))
        }
    }

    struct Series<'k> {
        keep: &'k dyn Fn(&str) -> bool,
    }

    impl<'de> DeserializeSeed<'de> for Series<'_> {
        type Value = Vec<Sample>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Series<'_> {
        type Value = Vec<Sample>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of series")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(sample) = seq.next_element_seed(OneSeries { keep: self.keep })? {
                out.push(sample);
            }
            Ok(out)
        }
    }

    struct OneSeries<'k> {
        keep: &'k dyn Fn(&str) -> bool,
    }

    impl<'de> DeserializeSeed<'de> for OneSeries<'_> {
        type Value = Sample;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for OneSeries<'_> {
        type Value = Sample;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a series with `metric` and `value`")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut labels, mut value) = (None, None);
            while let Some(key) = map.next_key::<Text<'de>>()? {
                match key.0.as_ref() {
                    "metric" => labels = Some(map.next_value_seed(KeptLabels { keep: self.keep })?),
                    "value" => {
                        let (_, text): (f64, Text<'de>) = map.next_value()?;
                        // Prometheus writes NaN, +Inf and -Inf; Rust reads those spellings too.
                        value = Some(text.0.parse::<f64>().map_err(|_| {
                            de::Error::invalid_value(de::Unexpected::Str(&text.0), &"a number")
                        })?);
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Sample {
                labels: labels.ok_or_else(|| de::Error::missing_field("metric"))?,
                value: value.ok_or_else(|| de::Error::missing_field("value"))?,
            })
        }
    }

    struct KeptLabels<'k> {
        keep: &'k dyn Fn(&str) -> bool,
    }

    impl<'de> DeserializeSeed<'de> for KeptLabels<'_> {
        type Value = Labels;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for KeptLabels<'_> {
        type Value = Labels;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a label object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut labels = Labels::default();
            while let Some(key) = map.next_key::<Text<'de>>()? {
                if (self.keep)(&key.0) {
                    let value: Text<'de> = map.next_value()?;
                    labels.insert(&*key.0, &*value.0);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(labels)
        }
    }
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
                                    .map(|s| (k.as_str(), s))
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
            labels: Labels::default(),
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
        // Filtered while reading: only the kept labels, the same values.
        let kept = parse_reply_keeping(UP, &|k| k == "instance").unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept[1].labels.iter().collect::<Vec<_>>(),
            [("instance", "127.0.0.1:39999")]
        );
        assert_eq!(kept[1].value, 0.0);
        // Keys in another order than Prometheus writes them read the same.
        let reordered = r#"{"data":{"result":[{"value":[1,"7"],"metric":{"instance":"a"}}],"resultType":"vector"},"status":"success"}"#;
        assert_eq!(
            parse_reply(reordered).unwrap(),
            parse_general(reordered).unwrap()
        );
        // Trailing garbage is not a reply.
        assert!(parse_reply(&format!("{UP} x")).is_err());
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
        assert_eq!(&s[0].labels["instance"], "127.0.0.1:39123");
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
