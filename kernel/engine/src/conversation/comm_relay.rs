//! Comm messages from the kernel on their way to the engine's runtime.
//!
//! JupyterLab's widget manager speaks as the kernel connects, which can be
//! while the engine is still starting: what comes then is held and passed on
//! once the engine is ready, then messages pass as they come.

use crate::{CommInbox, CommMessage};
use std::sync::{Arc, Mutex, PoisonError};

/// Messages held while the engine starts before new ones are dropped: only a
/// frontend gone wrong sends this many before the first cell can run.
const HELD_LIMIT: usize = 1024;

#[derive(Default)]
pub(super) struct CommRelay {
    state: Mutex<State>,
}

enum State {
    /// The engine is starting: messages wait here.
    Starting(Vec<CommMessage>),
    /// The engine is ready; `None` if it takes no comm messages.
    Ready(Option<Arc<dyn CommInbox>>),
}

impl Default for State {
    fn default() -> State {
        State::Starting(Vec::new())
    }
}

impl CommRelay {
    /// Passes `message` on, or holds it while the engine starts.
    pub(super) fn deliver(&self, message: CommMessage) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *state {
            State::Starting(held) if held.len() < HELD_LIMIT => held.push(message),
            State::Starting(_) => {
                tracing::warn!("too many comm messages before the engine is ready: one dropped")
            }
            State::Ready(Some(inbox)) => inbox.deliver(&message),
            State::Ready(None) => tracing::debug!("the engine takes no comm messages"),
        }
    }

    /// The engine is ready: what was held goes to `inbox` first, in order.
    pub(super) fn ready(&self, inbox: Option<Arc<dyn CommInbox>>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let (State::Starting(held), Some(inbox)) = (&mut *state, &inbox) {
            for message in held.drain(..) {
                inbox.deliver(&message);
            }
        }
        *state = State::Ready(inbox);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<CommMessage>>);

    impl CommInbox for Recorder {
        fn deliver(&self, message: &CommMessage) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(message.clone());
        }
    }

    #[test]
    fn messages_before_the_engine_is_ready_arrive_first_and_in_order() {
        let relay = CommRelay::default();
        relay.deliver(CommMessage::WidgetManager);
        relay.deliver(CommMessage::Close {
            comm_id: "a".into(),
            data: Default::default(),
        });
        let inbox = Arc::new(Recorder::default());
        relay.ready(Some(Arc::clone(&inbox) as Arc<dyn CommInbox>));
        relay.deliver(CommMessage::Close {
            comm_id: "b".into(),
            data: Default::default(),
        });
        let seen = inbox
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(
            seen,
            vec![
                CommMessage::WidgetManager,
                CommMessage::Close {
                    comm_id: "a".into(),
                    data: Default::default()
                },
                CommMessage::Close {
                    comm_id: "b".into(),
                    data: Default::default()
                },
            ]
        );
    }
}
