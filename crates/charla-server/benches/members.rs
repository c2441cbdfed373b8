//! Finding a member in a channel of 15,000 (a message's sender, a PART, a KICK, a JOIN that
//! checks it is not in yet): the members' list is scanned, and each member's client lives in an
//! allocation of its own, scattered as a long-running server's are.
//!
//! Run: `cargo bench -p charla-server --bench members`.

use std::hint::black_box;
use std::sync::Arc;

use charla_server::channel::{ChannelState, Member};
use charla_server::client::{Client, ConnectionId, Transport};
use charla_server::sendq::SendQueue;
use criterion::{Criterion, criterion_group, criterion_main};

const MEMBERS: u64 = 15_000;

fn channel() -> ChannelState {
    // Clients made with other allocations between them, in a shuffled order: not one dense run.
    let mut clients: Vec<Arc<Client>> = Vec::new();
    let mut ballast: Vec<Vec<u8>> = Vec::new();
    for id in 1..=MEMBERS {
        clients.push(Arc::new(Client::new(
            ConnectionId(id),
            "127.0.0.1:1".parse().expect("addr"),
            Transport::Plain,
            SendQueue::new(1 << 20),
        )));
        ballast.push(vec![0; 512 + (id as usize * 7919) % 2048]);
    }
    let mut st = ChannelState::default();
    let mut order: Vec<usize> = (0..clients.len()).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    for i in order {
        st.members
            .push(Member::new(clients[i].clone(), false, false, 0));
    }
    drop(ballast);
    st
}

fn members(c: &mut Criterion) {
    let mut st = channel();
    let last = st.members.last().map(|m| m.client.id).expect("members");
    let mut group = c.benchmark_group("members_15000");
    group.bench_function("find_the_last", |b| {
        b.iter(|| black_box(st.member(black_box(last)).is_some()))
    });
    group.bench_function("find_one_not_in", |b| {
        b.iter(|| black_box(st.member(black_box(ConnectionId(0))).is_some()))
    });
    group.bench_function("leave_and_join_again", |b| {
        b.iter(|| {
            let first = st.members[0].clone();
            assert!(st.remove(first.client.id));
            st.members.push(first);
        })
    });
    group.finish();
}

criterion_group!(benches, members);
criterion_main!(benches);
