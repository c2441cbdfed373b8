//! Micro-benchmarks of the hot protocol paths: parsing an incoming line and building an
//! outgoing one. Run with `cargo bench -p charla-proto --bench proto`.

use std::hint::black_box;

use charla_proto::{LineBuilder, Message, casemap};
use criterion::{Criterion, criterion_group, criterion_main};

const TAGGED: &str = "@time=2025-06-01T12:34:56.789Z;msgid=9f2c4e1a7b;account=ana;+draft/reply=77aa \
:Ñandú!ana@gateway/web/charla PRIVMSG #canal-español :¡Hola a todos! ¿Qué tal el día? 🎉\r\n";
const PLAIN: &str = ":ana!ana@host.example PRIVMSG #canal :hola, ¿alguien ahí?\r\n";

fn parse(c: &mut Criterion) {
    c.bench_function("parse tagged PRIVMSG", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(TAGGED)).expect("valid line");
            black_box(m.tag("time"));
            black_box(m)
        })
    });
    c.bench_function("parse plain PRIVMSG", |b| {
        b.iter(|| black_box(Message::parse(black_box(PLAIN)).expect("valid line")))
    });
}

fn build(c: &mut Criterion) {
    c.bench_function("build PRIVMSG with server-time", |b| {
        b.iter(|| {
            let mut line = LineBuilder::new();
            line.tag("time", Some(black_box("2025-06-01T12:34:56.789Z")))
                .source(black_box("Ñandú!ana@gateway/web/charla"))
                .command("PRIVMSG")
                .param(black_box("#canal-español"))
                .trailing(black_box("¡Hola a todos! ¿Qué tal el día? 🎉"));
            black_box(line.finish())
        })
    });
}

fn fold(c: &mut Criterion) {
    c.bench_function("casefold ASCII nick", |b| {
        b.iter(|| black_box(casemap::casefold(black_box("Alice_42"))))
    });
    c.bench_function("casefold Unicode nick (NFC)", |b| {
        b.iter(|| black_box(casemap::casefold(black_box("ÑANDÚ_José"))))
    });
}

criterion_group!(benches, parse, build, fold);
criterion_main!(benches);
