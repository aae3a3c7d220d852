//! The part of Go's text/template that Prometheus rule labels and annotations use:
//! `{{ $labels.name }}`, `{{ $value }}`, `{{ $externalLabels.name }}` (and `.Labels`, `.Value`),
//! pipelines (`{{ $value | humanizePercentage }}`), calls (`{{ printf "%.2f" $value }}`),
//! `{{ if }}`/`{{ else }}`/`{{ end }}` with `eq ne lt le gt ge and or not`, and `{{-`/`-}}`
//! trimming. Functions: `humanize`, `humanize1024`, `humanizePercentage`, `humanizeDuration`,
//! `humanizeTimestamp`, `printf`, `toUpper`, `toLower`, `title`, `trimSpace`, `stripPort`.
//! Anything else is a parse error, so `lookout rules check` reports it.

use std::collections::BTreeMap;

/// What a template is expanded with.
#[derive(Clone, Debug, Default)]
pub struct Data {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Map(BTreeMap<String, String>),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(n) => go_float(*n),
            Value::Bool(b) => b.to_string(),
            Value::Map(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", inner.join(" "))
            }
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Num(n) => *n != 0.0,
            Value::Bool(b) => *b,
            Value::Map(m) => !m.is_empty(),
        }
    }

    fn number(&self) -> Result<f64, String> {
        match self {
            Value::Num(n) => Ok(*n),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("cannot convert {s:?} to a number")),
            Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
            Value::Map(_) => Err("cannot convert a map to a number".into()),
        }
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`-like).
fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{v:e}");
        // Rust: 1e21 / 1.5e-5; Go: 1e+21 / 1.5e-05.
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{v}")
}

/// Go's `%.<prec>g`.
fn format_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

fn humanize(v: f64, base: f64, big: &[&str], small: &[&str]) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in big {
            if v.abs() < base {
                break;
            }
            prefix = p;
            v /= base;
        }
        return format!("{}{prefix}", format_g(v, 4));
    }
    let mut prefix = "";
    for p in small {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", format_g(v, 4))
}

fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", format_g(v, 4))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, 4))
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %%` with width and
/// precision.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || matches!(n, '.' | '-' | '+' | ' ' | '#' | '0') {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push('%');
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let (width, precision) = match spec.split_once('.') {
            Some((w, p)) => (
                w.trim_start_matches(['-', '+', ' ', '#'])
                    .parse::<usize>()
                    .ok(),
                p.parse::<usize>().ok(),
            ),
            None => (
                spec.trim_start_matches(['-', '+', ' ', '#'])
                    .parse::<usize>()
                    .ok(),
                None,
            ),
        };
        let text = match verb {
            'd' => match arg.number() {
                Ok(n) => format!("{}", n as i64),
                Err(_) => format!("%!d({})", arg.text()),
            },
            'f' | 'F' => match arg.number() {
                Ok(n) => format!("{:.*}", precision.unwrap_or(6), n),
                Err(_) => format!("%!f({})", arg.text()),
            },
            'e' => match arg.number() {
                Ok(n) => {
                    let s = format!("{:.*e}", precision.unwrap_or(6), n);
                    match s.split_once('e') {
                        Some((m, e)) => {
                            let (sign, d) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
                            format!("{m}e{sign}{d:0>2}")
                        }
                        None => s,
                    }
                }
                Err(_) => format!("%!e({})", arg.text()),
            },
            'g' => match arg.number() {
                Ok(n) => match precision {
                    Some(p) => format_g(n, p),
                    None => go_float(n),
                },
                Err(_) => format!("%!g({})", arg.text()),
            },
            'q' => format!("{:?}", arg.text()),
            'x' => match arg {
                Value::Num(n) => format!("{:x}", *n as i64),
                other => other.text().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            _ => {
                let t = arg.text();
                match precision {
                    Some(p) if matches!(arg, Value::Str(_)) => t.chars().take(p).collect(),
                    _ => t,
                }
            }
        };
        match width {
            Some(w) if text.chars().count() < w => {
                let pad = " ".repeat(w - text.chars().count());
                if spec.starts_with('-') {
                    out.push_str(&text);
                    out.push_str(&pad);
                } else {
                    out.push_str(&pad);
                    out.push_str(&text);
                }
            }
            _ => out.push_str(&text),
        }
    }
    out
}

const FUNCTIONS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "toUpper",
    "toLower",
    "title",
    "trimSpace",
    "stripPort",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
];

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Str(String),
    Num(f64),
    /// `$labels.x`, `.Labels.x`, `$value`...: a path from the root.
    Var(Vec<String>),
    /// A parenthesized pipeline.
    Pipe(Box<Pipeline>),
}

#[derive(Clone, Debug, PartialEq)]
struct Command {
    /// A function name, or empty for a lone operand.
    func: String,
    args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq)]
struct Pipeline(Vec<Command>);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

fn tokenize(action: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '`' {
            let quote = c;
            chars.next();
            let mut s = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' && quote == '"' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => return Err("unterminated quoted string".into()),
                    }
                } else if c == quote {
                    closed = true;
                    break;
                } else {
                    s.push(c);
                }
            }
            if !closed {
                return Err("unterminated quoted string".into());
            }
            out.push(s);
        } else if matches!(c, '|' | '(' | ')') {
            out.push(c.to_string());
            chars.next();
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '|' | '(' | ')' | '"' | '`') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn parse_pipeline(tokens: &[String], pos: &mut usize) -> Result<Pipeline, String> {
    let mut commands = Vec::new();
    loop {
        let mut command = Command {
            func: String::new(),
            args: Vec::new(),
        };
        while *pos < tokens.len() && tokens[*pos] != "|" && tokens[*pos] != ")" {
            let t = &tokens[*pos];
            *pos += 1;
            let arg = if t == "(" {
                let inner = parse_pipeline(tokens, pos)?;
                if tokens.get(*pos).map(String::as_str) != Some(")") {
                    return Err("unclosed left paren".into());
                }
                *pos += 1;
                Arg::Pipe(Box::new(inner))
            } else if let Some(s) = t.strip_prefix('"') {
                Arg::Str(s.to_owned())
            } else if let Ok(n) = t.parse::<f64>() {
                Arg::Num(n)
            } else if t.starts_with('$') || t.starts_with('.') {
                let path: Vec<String> = t
                    .split('.')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                let root = path.first().map(String::as_str).unwrap_or("");
                if !matches!(
                    root,
                    "$labels"
                        | "$value"
                        | "$externalLabels"
                        | "Labels"
                        | "Value"
                        | "ExternalLabels"
                        | "$externalURL"
                ) && t != "."
                {
                    return Err(format!("undefined variable {t:?}"));
                }
                Arg::Var(path)
            } else if t == "true" || t == "false" {
                Arg::Str(if t == "true" {
                    "true".into()
                } else {
                    String::new()
                })
            } else if command.func.is_empty() && command.args.is_empty() {
                if !FUNCTIONS.contains(&t.as_str()) {
                    return Err(format!("function {t:?} not defined"));
                }
                command.func = t.clone();
                continue;
            } else {
                return Err(format!("unexpected {t:?} in operand"));
            };
            command.args.push(arg);
        }
        if command.func.is_empty() && command.args.is_empty() {
            return Err("missing value for command".into());
        }
        commands.push(command);
        if *pos < tokens.len() && tokens[*pos] == "|" {
            *pos += 1;
            continue;
        }
        break;
    }
    Ok(Pipeline(commands))
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, String> {
        // Split into text and actions, applying `{{-` / `-}}` trimming.
        let mut items: Vec<(bool, String)> = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let mut text = rest[..open].to_owned();
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or("unclosed action")?;
            let mut action = &after[..close];
            if let Some(a) = action.strip_prefix('-') {
                if a.starts_with(char::is_whitespace) {
                    text = text.trim_end().to_owned();
                    action = a;
                }
            }
            let mut trim_next = false;
            if let Some(a) = action.strip_suffix('-') {
                if a.ends_with(char::is_whitespace) {
                    trim_next = true;
                    action = a;
                }
            }
            if !text.is_empty() {
                items.push((false, text));
            }
            items.push((true, action.trim().to_owned()));
            rest = &after[close + 2..];
            if trim_next {
                rest = rest.trim_start();
            }
        }
        if !rest.is_empty() {
            items.push((false, rest.to_owned()));
        }
        let mut pos = 0;
        let nodes = Self::parse_nodes(&items, &mut pos, false)?;
        if pos < items.len() {
            return Err(format!("unexpected {{{{{}}}}}", items[pos].1));
        }
        Ok(Template {
            source: source.to_owned(),
            nodes,
        })
    }

    fn parse_nodes(
        items: &[(bool, String)],
        pos: &mut usize,
        nested: bool,
    ) -> Result<Vec<Node>, String> {
        let mut nodes = Vec::new();
        while *pos < items.len() {
            let (action, text) = &items[*pos];
            if !action {
                nodes.push(Node::Text(text.clone()));
                *pos += 1;
                continue;
            }
            if text.starts_with("/*") {
                *pos += 1;
                continue;
            }
            let tokens = tokenize(text)?;
            match tokens.first().map(String::as_str) {
                Some("end") | Some("else") => {
                    if !nested {
                        return Err(format!("unexpected {{{{{text}}}}}"));
                    }
                    return Ok(nodes);
                }
                Some("if") => {
                    let mut p = 1;
                    let cond = parse_pipeline(&tokens, &mut p)?;
                    *pos += 1;
                    let then = Self::parse_nodes(items, pos, true)?;
                    let mut otherwise = Vec::new();
                    match items.get(*pos).map(|(_, t)| t.as_str()) {
                        Some("else") => {
                            *pos += 1;
                            otherwise = Self::parse_nodes(items, pos, true)?;
                            if items.get(*pos).map(|(_, t)| t.as_str()) != Some("end") {
                                return Err("missing {{end}}".into());
                            }
                            *pos += 1;
                        }
                        Some("end") => *pos += 1,
                        _ => return Err("missing {{end}}".into()),
                    }
                    nodes.push(Node::If(cond, then, otherwise));
                }
                Some("range") | Some("with") | Some("define") | Some("template")
                | Some("block") => {
                    return Err(format!("{{{{{}}}}} is not supported", tokens[0]));
                }
                Some(first)
                    if first.starts_with('$')
                        && tokens.get(1).map(String::as_str) == Some(":=") =>
                {
                    return Err("variable declarations are not supported".into());
                }
                _ => {
                    let mut p = 0;
                    let pipeline = parse_pipeline(&tokens, &mut p)?;
                    if p < tokens.len() {
                        return Err(format!("unexpected {:?}", tokens[p]));
                    }
                    nodes.push(Node::Action(pipeline));
                    *pos += 1;
                }
            }
        }
        if nested {
            return Err("missing {{end}}".into());
        }
        Ok(nodes)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Expands the template; an error (a function given a wrong value) is returned as text.
    pub fn expand(&self, data: &Data) -> Result<String, String> {
        let mut out = String::new();
        expand_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

fn expand_nodes(nodes: &[Node], data: &Data, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&eval_pipeline(p, data)?.text()),
            Node::If(cond, then, otherwise) => {
                if eval_pipeline(cond, data)?.truthy() {
                    expand_nodes(then, data, out)?;
                } else {
                    expand_nodes(otherwise, data, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_arg(arg: &Arg, data: &Data) -> Result<Value, String> {
    Ok(match arg {
        Arg::Str(s) => Value::Str(s.clone()),
        Arg::Num(n) => Value::Num(*n),
        Arg::Pipe(p) => eval_pipeline(p, data)?,
        Arg::Var(path) => {
            let root = path.first().map(String::as_str).unwrap_or("");
            let map = match root {
                "$labels" | "Labels" => Some(&data.labels),
                "$externalLabels" | "ExternalLabels" => Some(&data.external_labels),
                _ => None,
            };
            match (map, path.get(1)) {
                (Some(m), Some(key)) => Value::Str(m.get(key).cloned().unwrap_or_default()),
                (Some(m), None) => Value::Map(m.clone()),
                (None, _) if root == "$value" || root == "Value" => Value::Num(data.value),
                _ => Value::Str(String::new()),
            }
        }
    })
}

fn eval_pipeline(p: &Pipeline, data: &Data) -> Result<Value, String> {
    let mut last: Option<Value> = None;
    for command in &p.0 {
        let mut args: Vec<Value> = command
            .args
            .iter()
            .map(|a| eval_arg(a, data))
            .collect::<Result<_, _>>()?;
        if let Some(prev) = last.take() {
            args.push(prev);
        }
        last = Some(if command.func.is_empty() {
            args.into_iter().next().unwrap_or(Value::Str(String::new()))
        } else {
            call(&command.func, &args)?
        });
    }
    Ok(last.unwrap_or(Value::Str(String::new())))
}

fn one(name: &str, args: &[Value]) -> Result<Value, String> {
    args.first()
        .cloned()
        .ok_or_else(|| format!("wrong number of args for {name}: want 1 got 0"))
}

fn compare(name: &str, args: &[Value]) -> Result<Value, String> {
    let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
        return Err(format!("wrong number of args for {name}: want 2"));
    };
    let ord = match (a.number(), b.number()) {
        (Ok(x), Ok(y)) if !matches!((a, b), (Value::Str(_), Value::Str(_))) => x.partial_cmp(&y),
        _ => Some(a.text().cmp(&b.text())),
    };
    use std::cmp::Ordering::*;
    Ok(Value::Bool(match name {
        "eq" => ord == Some(Equal),
        "ne" => ord != Some(Equal),
        "lt" => ord == Some(Less),
        "le" => matches!(ord, Some(Less | Equal)),
        "gt" => ord == Some(Greater),
        _ => matches!(ord, Some(Greater | Equal)),
    }))
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    Ok(match name {
        "humanize" => Value::Str(humanize(
            one(name, args)?.number()?,
            1000.0,
            &["k", "M", "G", "T", "P", "E", "Z", "Y"],
            &["m", "u", "n", "p", "f", "a", "z", "y"],
        )),
        "humanize1024" => {
            let v = one(name, args)?.number()?;
            if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
                Value::Str(format_g(v, 4))
            } else {
                Value::Str(humanize(
                    v,
                    1024.0,
                    &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
                    &[],
                ))
            }
        }
        "humanizePercentage" => Value::Str(format!(
            "{}%",
            format_g(one(name, args)?.number()? * 100.0, 4)
        )),
        "humanizeDuration" => Value::Str(humanize_duration(one(name, args)?.number()?)),
        "humanizeTimestamp" => {
            let v = one(name, args)?.number()?;
            let t =
                jiff::Timestamp::from_nanosecond((v * 1e9) as i128).map_err(|e| e.to_string())?;
            Value::Str(t.strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string())
        }
        "printf" => {
            let format = args.first().map(Value::text).unwrap_or_default();
            Value::Str(printf(&format, &args[1.min(args.len())..]))
        }
        "toUpper" => Value::Str(one(name, args)?.text().to_uppercase()),
        "toLower" => Value::Str(one(name, args)?.text().to_lowercase()),
        "trimSpace" => Value::Str(one(name, args)?.text().trim().to_owned()),
        "title" => Value::Str(
            one(name, args)?
                .text()
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "stripPort" => {
            let t = one(name, args)?.text();
            Value::Str(match t.rsplit_once(':') {
                Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                _ => t,
            })
        }
        "len" => Value::Num(match one(name, args)? {
            Value::Map(m) => m.len() as f64,
            other => other.text().chars().count() as f64,
        }),
        "not" => Value::Bool(!one(name, args)?.truthy()),
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Bool(true)),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Bool(false)),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, args)?,
        other => return Err(format!("function {other:?} not defined")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(t: &str, value: f64) -> String {
        let data = Data {
            labels: [("service_name".to_owned(), "checkout".to_owned())].into(),
            external_labels: [("cluster".to_owned(), "eu".to_owned())].into(),
            value,
        };
        Template::parse(t).unwrap().expand(&data).unwrap()
    }

    #[test]
    fn prometheus_annotations_expand_as_prometheus_does() {
        assert_eq!(
            expand(
                "{{ $labels.service_name }} error rate is {{ $value | humanizePercentage }}",
                0.0712
            ),
            "checkout error rate is 7.12%"
        );
        assert_eq!(
            expand(
                "{{ .Labels.service_name }} in {{ $externalLabels.cluster }}",
                1.0
            ),
            "checkout in eu"
        );
        assert_eq!(expand("{{ printf \"%.2f\" $value }}s", 1.23456), "1.23s");
        assert_eq!(expand("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(expand("{{ humanize $value }}", 0.00123), "1.23m");
        assert_eq!(expand("{{ humanize1024 $value }}", 1073741824.0), "1Gi");
        assert_eq!(
            expand("{{ $value | humanizeDuration }}", 3725.0),
            "1h 2m 5s"
        );
        assert_eq!(expand("{{ $value | humanizeDuration }}", 0.25), "250ms");
        assert_eq!(expand("{{ $value }}", 0.1), "0.1");
        assert_eq!(expand("{{ $value }}", 1e21), "1e+21");
        assert_eq!(
            expand("{{ if gt $value 0.5 }}high{{ else }}low{{ end }}", 0.7),
            "high"
        );
        assert_eq!(expand("a {{- \" b \" -}} c", 0.0), "a b c");
        assert_eq!(
            expand(
                "{{ $labels.missing }}|{{ toUpper $labels.service_name }}",
                0.0
            ),
            "|CHECKOUT"
        );
    }

    #[test]
    fn mistakes_are_parse_errors() {
        for bad in [
            "{{ $labels.x ",
            "{{ humanise $value }}",
            "{{ $valu }}",
            "{{ if $value }}x",
            "{{ end }}",
            "{{ range $labels }}{{ end }}",
            "{{ \"unterminated }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
