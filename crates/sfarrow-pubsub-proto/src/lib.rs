//! The Pub/Sub API's messages and service (`eventbus.v1.PubSub`), generated from the crate's own
//! proto. The emulator takes the `server` half and the client the `client` half, so neither
//! depends on the other.

#[allow(clippy::all, clippy::pedantic)]
pub mod eventbus {
    tonic::include_proto!("eventbus.v1");
}

pub use eventbus::*;

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The field numbers are the wire contract with every other client: a renumbering must fail.
    #[test]
    fn field_numbers() {
        assert_eq!(ReplayPreset::Latest as i32, 0);
        assert_eq!(ReplayPreset::Earliest as i32, 1);
        assert_eq!(ReplayPreset::Custom as i32, 2);
        assert_eq!(ErrorCode::Publish as i32, 1);
        // FetchResponse: events=1 (ConsumerEvent{event=1{id=1,schema_id=2,payload=3}, replay_id=2}),
        // latest_replay_id=2, rpc_id=3, pending_num_requested=4.
        let bytes = [
            0x0a, 0x0f, // events, 15 bytes
            0x0a, 0x09, 0x0a, 0x01, b'e', 0x12, 0x01, b's', 0x1a, 0x01, 0x07, // event
            0x12, 0x02, 0x00, 0x05, // replay_id
            0x12, 0x01, 0x09, // latest_replay_id
            0x1a, 0x01, b'r', // rpc_id
            0x20, 0x06, // pending_num_requested
        ];
        let r = FetchResponse::decode(&bytes[..]).expect("decodes");
        assert_eq!(r.pending_num_requested, 6);
        assert_eq!(r.rpc_id, "r");
        assert_eq!(r.latest_replay_id, vec![9]);
        let e = &r.events[0];
        assert_eq!(e.replay_id, vec![0, 5]);
        let p = e.event.as_ref().expect("event");
        assert_eq!(
            (p.id.as_str(), p.schema_id.as_str(), &p.payload[..]),
            ("e", "s", &[7u8][..])
        );
        let fetch = FetchRequest {
            topic_name: "t".into(),
            replay_preset: ReplayPreset::Custom as i32,
            replay_id: vec![1],
            num_requested: 3,
            auth_refresh: String::new(),
        };
        assert_eq!(
            fetch.encode_to_vec(),
            [0x0a, 1, b't', 0x10, 2, 0x1a, 1, 1, 0x20, 3]
        );
    }
}
