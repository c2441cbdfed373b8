//! The fan-out hot path: one channel line to N = 500 members. Encoded once (plus lazily built
//! tag variants) and pushed by refcount into N send queues, against encoding it per member.
//!
//! Run: `cargo bench -p charla-server --bench fanout`.

use std::collections::VecDeque;
use std::hint::black_box;

use charla_proto::LineBuilder;
use charla_server::caps::{Cap, CapSet};
use charla_server::outbound::{Line, Outgoing};
use charla_server::sendq::SendQueue;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MEMBERS: usize = 500;

fn line() -> LineBuilder {
    let mut b = LineBuilder::new();
    b.source("alice!~alice@192.0.2.1")
        .command("PRIVMSG")
        .param("#charla")
        .trailing("¡Hola a todos! Este es un mensaje de prueba de tamaño normal 🎉");
    b
}

fn members() -> Vec<(SendQueue, CapSet)> {
    (0..MEMBERS)
        .map(|i| {
            // A mix like a real channel: a third with server-time, some with message-tags too.
            let caps = match i % 3 {
                0 => CapSet(Cap::ServerTime.bit()),
                1 => CapSet(Cap::ServerTime.bit() | Cap::MessageTags.bit()),
                _ => CapSet::default(),
            };
            (SendQueue::new(usize::MAX / 2), caps)
        })
        .collect()
}

fn drain(members: &[(SendQueue, CapSet)], scratch: &mut VecDeque<Line>) {
    for (q, _) in members {
        q.take_all(scratch, std::task::Waker::noop());
        scratch.clear();
    }
}

fn fanout(c: &mut Criterion) {
    let members = members();
    let mut scratch = VecDeque::new();
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    group.bench_function("encode_once_500", |b| {
        b.iter(|| {
            let out = Outgoing::new(line()).with_client_tags([("+draft/reply", "123")].into_iter());
            for (q, caps) in &members {
                let _ = q.push(out.for_caps(*caps));
            }
            drain(&members, &mut scratch);
        })
    });
    group.bench_function("encode_per_member_500", |b| {
        b.iter(|| {
            for (q, _) in &members {
                let _ = q.push(Line::new(black_box(line()).finish()));
            }
            drain(&members, &mut scratch);
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
