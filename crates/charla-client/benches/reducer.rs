//! How fast the state reducer takes in a busy channel: parse + apply of one PRIVMSG line
//! (with server-time, a mention check and the scroll-back cap), and of a NAMES burst.
//! Run: `cargo bench -p charla-client --bench reducer`.

use charla_client::{Event, State};
use charla_proto::OwnedMessage;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn busy_channel() -> State {
    let mut s = State::new("ana");
    for l in [":srv 001 ana :hi", ":ana!a@h JOIN #charla"] {
        s.apply(&Event::Irc(OwnedMessage::parse(l).unwrap()));
    }
    s
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("reducer");
    group.throughput(Throughput::Elements(1));
    let line = "@time=2026-11-23T10:00:00.000Z :bob!b@host PRIVMSG #charla :hola a todos, ¿qué tal? 🎉 ana";
    let mut s = busy_channel();
    group.bench_function("privmsg_parse_and_apply", |b| {
        b.iter(|| {
            let m = OwnedMessage::parse(black_box(line)).unwrap();
            black_box(s.apply(&Event::Irc(m)))
        })
    });
    let names: Vec<Event> = (0..1000)
        .map(|i| format!(":srv 353 ana = #charla :@op{i} +v{i} user{i}"))
        .chain(std::iter::once(":srv 366 ana #charla :End".to_owned()))
        .map(|l| Event::Irc(OwnedMessage::parse(&l).unwrap()))
        .collect();
    group.throughput(Throughput::Elements(3000));
    group.bench_function("names_3000_members", |b| {
        b.iter(|| {
            let mut s = busy_channel();
            for e in &names {
                s.apply(e);
            }
            black_box(s.buffers.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
