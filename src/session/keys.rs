//! Redis key and channel names, in one place so every instance agrees.

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            ns: namespace.to_string(),
        }
    }

    pub(crate) fn owner(&self, call_sid: &str) -> String {
        format!("{}:call:{call_sid}:owner", self.ns)
    }

    pub(crate) fn inbox(&self, instance: &str) -> String {
        format!("{}:inbox:{instance}", self.ns)
    }

    pub(crate) fn reply(&self, instance: &str) -> String {
        format!("{}:reply:{instance}", self.ns)
    }

    pub(crate) fn response(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.ns)
    }

    pub(crate) fn once(&self, key: &str) -> String {
        format!("{}:once:{key}", self.ns)
    }

    pub(crate) fn rate(&self, caller: &str) -> String {
        format!("{}:rate:{caller}", self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_layout() {
        let k = Keys::new("frontdesk");
        assert_eq!(k.owner("CA1"), "frontdesk:call:CA1:owner");
        assert_eq!(k.inbox("i-1"), "frontdesk:inbox:i-1");
        assert_eq!(k.reply("i-1"), "frontdesk:reply:i-1");
        assert_eq!(k.response("x"), "frontdesk:idem:x");
        assert_eq!(k.once("x"), "frontdesk:once:x");
        assert_eq!(k.rate("+1555"), "frontdesk:rate:+1555");
    }

    #[test]
    fn namespace_separates_deployments() {
        assert_ne!(Keys::new("a").owner("CA1"), Keys::new("b").owner("CA1"));
    }
}
