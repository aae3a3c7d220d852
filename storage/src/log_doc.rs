//! A log record as the log index's writer takes it: [`LogDoc`], tantivy's [`Document`] over
//! one text buffer. Building one costs two allocations (the buffer and the attribute list; a
//! third, the sort's, for a record of more than [`FEW_ATTRIBUTES`]), where tantivy's own document encodes
//! every value again. It is sent to the writer's threads, so it owns what it refers to.

use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field;

use crate::log_index::{Fields, LogKey};
use crate::trace_index::{push_value_text, UNKNOWN_SERVICE};
use crate::StoredLog;

/// A part of [`LogDoc::text`]: start and end.
type Span = (usize, usize);

/// Attributes a record may have before duplicate keys are found by sorting instead of by
/// comparing each with those after it: below this, comparing (mostly lengths) is cheaper.
const FEW_ATTRIBUTES: usize = 32;

/// One record's indexed fields.
#[derive(Debug)]
pub(crate) struct LogDoc {
    fields: Fields,
    time: u64,
    seq: u64,
    severity_number: u64,
    level: &'static str,
    /// The body, severity text, service, trace id and span id (hex), then each attribute's key
    /// and text, back to back.
    text: String,
    body: Option<Span>,
    severity: Option<Span>,
    service: Span,
    trace_id: Option<Span>,
    span_id: Option<Span>,
    /// Key and text of each attribute, the resource's and the record's, a key of both once
    /// with the record's text.
    attributes: Vec<(Span, Span)>,
}

impl LogDoc {
    pub(crate) fn of(fields: Fields, key: &LogKey, log: &StoredLog) -> LogDoc {
        let r = &log.record;
        let resource = &log.resource.attributes;
        let attribute_count = resource.len() + r.attributes.len();
        let capacity = 128
            + text_len(r.body.as_ref())
            + r.severity_text.len()
            + resource
                .iter()
                .chain(&r.attributes)
                .map(|kv| kv.key.len() + text_len(kv.value.as_ref()))
                .sum::<usize>();
        let mut doc = LogDoc {
            fields,
            time: key.time_unix_nano,
            seq: key.seq,
            severity_number: r.severity_number.max(0) as u64,
            level: crate::store::log_level(&r.severity_text, r.severity_number),
            text: String::with_capacity(capacity),
            body: None,
            severity: None,
            service: (0, 0),
            trace_id: None,
            span_id: None,
            attributes: Vec::with_capacity(attribute_count),
        };
        doc.body = doc.push_with(|text| push_value_text(r.body.as_ref(), text));
        if !r.severity_text.is_empty() {
            doc.severity = Some(doc.push(&r.severity_text));
        }
        let service = log
            .resource
            .service_name()
            .filter(|s| !s.is_empty())
            .unwrap_or(UNKNOWN_SERVICE);
        doc.service = doc.push(service);
        if !r.trace_id.is_empty() {
            doc.trace_id = Some(doc.push_hex(&r.trace_id));
        }
        if !r.span_id.is_empty() {
            doc.span_id = Some(doc.push_hex(&r.span_id));
        }
        for kv in resource.iter().chain(&r.attributes) {
            let start = doc.text.len();
            if let Some(value) = doc.push_with(|text| {
                text.push_str(&kv.key);
                push_value_text(kv.value.as_ref(), text)
            }) {
                let key_end = start + kv.key.len();
                doc.attributes
                    .push(((value.0, key_end), (key_end, value.1)));
            }
        }
        doc.keep_last_of_each_key();
        doc
    }

    /// Appends what `push` writes; its span if `push` says there is a value.
    fn push_with(&mut self, push: impl FnOnce(&mut String) -> bool) -> Option<Span> {
        let start = self.text.len();
        if push(&mut self.text) {
            Some((start, self.text.len()))
        } else {
            self.text.truncate(start);
            None
        }
    }

    fn push(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        (start, self.text.len())
    }

    fn push_hex(&mut self, bytes: &[u8]) -> Span {
        let start = self.text.len();
        let mut buf = [0u8; 64];
        for chunk in bytes.chunks(32) {
            if let Some(out) = buf.get_mut(..chunk.len() * 2) {
                if let Ok(hex) = const_hex::encode_to_str(chunk, out) {
                    self.text.push_str(hex);
                }
            }
        }
        (start, self.text.len())
    }

    fn get(&self, (start, end): Span) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    /// Drops every attribute whose key comes again later: the record's attributes follow the
    /// resource's, so a key of both keeps the record's text.
    fn keep_last_of_each_key(&mut self) {
        let mut attributes = std::mem::take(&mut self.attributes);
        if attributes.len() <= FEW_ATTRIBUTES {
            let bytes = self.text.as_bytes();
            let key = |(start, end): Span| bytes.get(start..end);
            let mut kept = 0;
            for i in 0..attributes.len() {
                let (start, end) = attributes[i].0;
                let later = |&((s, e), _): &(Span, Span)| {
                    e - s == end - start && key((s, e)) == key((start, end))
                };
                if !attributes[i + 1..].iter().any(later) {
                    attributes[kept] = attributes[i];
                    kept += 1;
                }
            }
            attributes.truncate(kept);
        } else {
            // Newest first, then a stable sort by key: the first of each run is the last given.
            attributes.reverse();
            attributes.sort_by(|a, b| self.get(a.0).cmp(self.get(b.0)));
            attributes.dedup_by(|later, first| self.get(later.0) == self.get(first.0));
        }
        self.attributes = attributes;
    }
}

/// An upper bound of what [`push_value_text`] writes for `value`, for a number a guess.
fn text_len(value: Option<&lookout_proto::otlp::common::v1::AnyValue>) -> usize {
    use lookout_proto::otlp::common::v1::any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.len(),
        _ => 24,
    }
}

/// A value of a [`LogDoc`] as tantivy reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LogValue<'a> {
    U64(u64),
    Str(&'a str),
    Attributes(&'a LogDoc),
}

/// The attributes of a [`LogDoc`] as a JSON object's key and value pairs.
#[derive(Clone, Debug)]
pub(crate) struct AttributeIter<'a> {
    doc: &'a LogDoc,
    pairs: std::slice::Iter<'a, (Span, Span)>,
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = (&'a str, LogValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = self.pairs.next()?;
        Some((self.doc.get(*key), LogValue::Str(self.doc.get(*value))))
    }
}

impl<'a> Value<'a> for LogValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = AttributeIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            LogValue::U64(v) => ReferenceValue::Leaf(ReferenceValueLeaf::U64(v)),
            LogValue::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
            LogValue::Attributes(doc) => ReferenceValue::Object(AttributeIter {
                doc,
                pairs: doc.attributes.iter(),
            }),
        }
    }
}

/// The fields of a [`LogDoc`] with a value, in schema order.
#[derive(Debug)]
pub(crate) struct LogDocFields<'a> {
    doc: &'a LogDoc,
    next: u8,
}

impl<'a> Iterator for LogDocFields<'a> {
    type Item = (Field, LogValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let d = self.doc;
        let f = d.fields;
        loop {
            let step = self.next;
            self.next = step.saturating_add(1);
            let str_of =
                |span: Option<Span>, field: Field| span.map(|s| (field, LogValue::Str(d.get(s))));
            let item = match step {
                0 => Some((f.time, LogValue::U64(d.time))),
                1 => Some((f.seq, LogValue::U64(d.seq))),
                2 => str_of(d.body, f.body),
                3 => Some((f.severity_number, LogValue::U64(d.severity_number))),
                4 => str_of(d.severity, f.severity),
                5 => Some((f.level, LogValue::Str(d.level))),
                6 => str_of(Some(d.service), f.service),
                7 => str_of(d.trace_id, f.trace_id),
                8 => str_of(d.span_id, f.span_id),
                9 if !d.attributes.is_empty() => Some((f.attributes, LogValue::Attributes(d))),
                9 => None,
                _ => return None,
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

impl Document for LogDoc {
    type Value<'a> = LogValue<'a>;
    type FieldsValuesIter<'a> = LogDocFields<'a>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        LogDocFields { doc: self, next: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::model::{Resource, Scope};
    use lookout_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
    use lookout_proto::otlp::logs::v1::LogRecord;
    use lookout_proto::requests::string_kv;
    use std::sync::Arc;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    /// Each field's values as text, in the order tantivy reads them.
    fn read(doc: &LogDoc) -> Vec<(String, String)> {
        let (schema, _) = crate::log_index::schema();
        let mut out = Vec::new();
        for (field, value) in doc.iter_fields_and_values() {
            let name = schema.get_field_name(field).to_string();
            match value.as_value() {
                ReferenceValue::Leaf(ReferenceValueLeaf::U64(v)) => out.push((name, v.to_string())),
                ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)) => out.push((name, s.into())),
                ReferenceValue::Object(pairs) => {
                    let mut pairs: Vec<(String, String)> = pairs
                        .map(|(k, v)| (format!("{name}.{k}"), v.as_str().unwrap_or("?").into()))
                        .collect();
                    pairs.sort();
                    out.extend(pairs);
                }
                other => panic!("unexpected value {other:?}"),
            }
        }
        out
    }

    fn stored(resource: Vec<KeyValue>, record: LogRecord) -> StoredLog {
        StoredLog {
            time_unix_nano: 7,
            resource: Arc::new(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope: Arc::new(Scope::default()),
            record,
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_record_reads_back_as_each_indexed_field_with_the_records_attribute_over_the_resources() {
        let log = stored(
            vec![
                string_kv("service.name", "checkout"),
                string_kv("host.name", "web-1"),
                string_kv("region", "eu"),
            ],
            LogRecord {
                severity_number: 17,
                severity_text: "ERROR".into(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("payment failed".into())),
                }),
                attributes: vec![
                    string_kv("region", "us"),
                    kv("http.status_code", any_value::Value::IntValue(503)),
                    kv("retry", any_value::Value::BoolValue(true)),
                    kv("ratio", any_value::Value::DoubleValue(0.5)),
                    kv("nested", any_value::Value::BytesValue(vec![1])),
                ],
                trace_id: vec![0xab; 16],
                span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                ..Default::default()
            },
        );
        let key = LogKey {
            time_unix_nano: 7,
            seq: 42,
        };
        let doc = LogDoc::of(crate::log_index::schema().1, &key, &log);
        assert_eq!(
            read(&doc),
            owned(&[
                ("time", "7"),
                ("seq", "42"),
                ("body", "payment failed"),
                ("severity_number", "17"),
                ("severity", "ERROR"),
                ("level", "error"),
                ("service", "checkout"),
                ("trace_id", &"ab".repeat(16)),
                ("span_id", "0102030405060708"),
                ("attributes.host.name", "web-1"),
                ("attributes.http.status_code", "503"),
                ("attributes.ratio", "0.5"),
                ("attributes.region", "us"),
                ("attributes.retry", "true"),
                ("attributes.service.name", "checkout"),
            ])
        );
    }

    #[test]
    fn a_bare_record_has_no_body_severity_ids_or_attributes_and_an_unknown_service() {
        let doc = LogDoc::of(
            crate::log_index::schema().1,
            &LogKey {
                time_unix_nano: 1,
                seq: 2,
            },
            &stored(Vec::new(), LogRecord::default()),
        );
        assert_eq!(
            read(&doc),
            owned(&[
                ("time", "1"),
                ("seq", "2"),
                ("severity_number", "0"),
                ("level", "unknown"),
                ("service", UNKNOWN_SERVICE),
            ])
        );
    }

    #[test]
    fn ids_of_any_length_are_hex_as_tantivys_own_document_had_them() {
        for len in [1, 31, 32, 33, 64, 65, 200] {
            let id: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let doc = LogDoc::of(
                crate::log_index::schema().1,
                &LogKey {
                    time_unix_nano: 1,
                    seq: 2,
                },
                &stored(
                    Vec::new(),
                    LogRecord {
                        trace_id: id.clone(),
                        span_id: id.clone(),
                        ..Default::default()
                    },
                ),
            );
            let read = read(&doc);
            let hex = const_hex::encode(&id);
            assert!(read.contains(&("trace_id".into(), hex.clone())), "{len}");
            assert!(read.contains(&("span_id".into(), hex)), "{len}");
        }
    }

    #[test]
    fn many_attributes_keep_the_last_text_of_each_key() {
        let resource: Vec<KeyValue> = (0..40)
            .map(|i| string_kv(&format!("k{i}"), "resource"))
            .collect();
        let mut attributes: Vec<KeyValue> = (0..40)
            .step_by(2)
            .map(|i| string_kv(&format!("k{i}"), "first"))
            .collect();
        attributes.push(string_kv("k0", "second"));
        let doc = LogDoc::of(
            crate::log_index::schema().1,
            &LogKey {
                time_unix_nano: 1,
                seq: 2,
            },
            &stored(
                resource,
                LogRecord {
                    attributes,
                    ..Default::default()
                },
            ),
        );
        let read = read(&doc);
        let attributes: Vec<&(String, String)> = read
            .iter()
            .filter(|(k, _)| k.starts_with("attributes."))
            .collect();
        assert_eq!(attributes.len(), 40);
        for (key, text) in attributes {
            let i: usize = key["attributes.k".len()..].parse().unwrap();
            let expected = match i {
                0 => "second",
                i if i % 2 == 0 => "first",
                _ => "resource",
            };
            assert_eq!(text, expected, "{key}");
        }
    }
}
