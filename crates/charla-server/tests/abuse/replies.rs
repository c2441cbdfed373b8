//! Big replies (LIST of every channel, WHO of a big channel): produced as the asker reads, so a
//! reader gets all of it whatever its SendQ, and a non-reader costs no more than its SendQ.

use super::*;

/// A server with `channels` channels, held open by one client; flood control off.
async fn server_with_channels(mut config: Config, channels: usize) -> (TestServer, Raw) {
    config.flood.enabled = false;
    config.limits.max_channels_per_user = channels;
    let server = TestServer::start_with(config).await;
    let mut owner = Raw::registered(server.addr, "dueño", "").await;
    let names: Vec<String> = (0..channels).map(|i| format!("#canal-{i:05}")).collect();
    let mut batch = String::new();
    for chunk in names.chunks(30) {
        batch.push_str(&format!("JOIN {}\r\n", chunk.join(",")));
    }
    owner.send_raw(batch.as_bytes()).await;
    owner.send("PING :joined").await;
    let mut joined = 0;
    loop {
        let m = owner.recv().await;
        match m.command.as_str() {
            "JOIN" => joined += 1,
            "PONG" if m.param(1) == Some("joined") => break,
            _ => {}
        }
    }
    assert_eq!(joined, channels, "the owner's JOINs");
    (server, owner)
}

/// Reads `c`'s LIST reply to its end; returns the channels listed.
async fn read_list(c: &mut Raw) -> usize {
    let mut rows = 0;
    loop {
        let m = c.recv().await;
        match m.command.as_str() {
            "322" => rows += 1,
            "323" => return rows,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_a_list_far_bigger_than_its_sendq_and_then_its_next_answer() {
    bounded(async {
        let mut config = TestServer::test_config();
        // 2,000 LIST lines hold about 300 KB: ten times this.
        config.limits.sendq_bytes = 32 * 1024;
        let (server, _owner) = server_with_channels(config, 2_000).await;
        let mut asker = Raw::registered(server.addr, "curioso", "").await;
        asker.send_raw(b"LIST\r\nPING :after\r\n").await;
        assert_eq!(read_list(&mut asker).await, 2_000);
        // The command sent after LIST is answered after all of it.
        let pong = asker.expect_command("PONG").await;
        assert_eq!(pong.param(1), Some("after"));
        assert!(server.handle.users().iter().any(|u| u.nick == "curioso"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_reader_asking_for_big_replies_holds_no_more_than_its_sendq() {
    bounded(async {
        let config = TestServer::test_config();
        let sendq = config.limits.sendq_bytes;
        let (server, _owner) = server_with_channels(config, 3_000).await;
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("connect");
        let mut stuck = Raw::from_stream(stream);
        stuck.register("dormido", "").await;
        // Ten LISTs of 3,000 channels: 30,000 lines, several MB once queued, and never read.
        stuck.send_raw("LIST\r\n".repeat(10).as_bytes()).await;
        // Its queue fills to what the paced reply allows and stays there.
        let mut most = 0;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let held = server
                .handle
                .users()
                .iter()
                .find(|u| u.nick == "dormido")
                .map(|u| u.sendq_bytes);
            most = most.max(held.expect("still connected: it asked for nothing it cannot take"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(most > 0, "the reply did not start");
        assert!(
            most <= 64 * 1024 + 1024 && most < sendq,
            "a non-reader holds {most} bytes of queued replies"
        );
        // Others are answered meanwhile.
        let mut other = Raw::registered(server.addr, "otro", "").await;
        other.send("LIST #canal-00001").await;
        assert_eq!(read_list(&mut other).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_of_a_channel_bigger_than_the_sendq_is_answered_in_full() {
    const MEMBERS: usize = 150;
    bounded(async {
        let mut config = no_flood_config();
        // Each member's WHO line carries its 350-byte real name: 150 of them hold about 75 KB,
        // while the JOIN lines each member gets before the WHO hold less than half of that.
        config.limits.sendq_bytes = 40 * 1024;
        let server = TestServer::start_with(config).await;
        let realname = "ñ".repeat(175);
        let mut members = Vec::new();
        for i in 0..MEMBERS {
            let mut c = Raw::connect(server.addr).await;
            c.name = format!("m{i}");
            c.send(&format!("NICK m{i}\r\nUSER m{i} 0 * :{realname}"))
                .await;
            c.expect_numeric("376").await;
            c.send("JOIN #grande").await;
            c.expect_numeric("366").await;
            members.push(c);
        }
        // The last to join: it has read everyone's JOIN already.
        let asker = &mut members[MEMBERS - 1];
        asker.send_raw(b"WHO #grande\r\nPING :after\r\n").await;
        let mut rows = 0;
        loop {
            let m = asker.recv().await;
            match m.command.as_str() {
                "352" => rows += 1,
                "315" => break,
                _ => {}
            }
        }
        assert_eq!(rows, MEMBERS);
        let pong = asker.expect_command("PONG").await;
        assert_eq!(pong.param(1), Some("after"));
    })
    .await;
}
