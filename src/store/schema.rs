//! The one schema both backends share. Only SQL types that exist on
//! PostgreSQL and SQLite alike are used; timestamps are UTC `NaiveDateTime`.

diesel::table! {
    businesses (id) {
        id -> BigInt,
        number -> Text,
        name -> Text,
        timezone -> Text,
        greeting -> Text,
        persona -> Text,
        recording_disclosure -> Nullable<Text>,
    }
}

diesel::table! {
    departments (id) {
        id -> BigInt,
        business_id -> BigInt,
        name -> Text,
        phone -> Text,
        hours_json -> Text,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        business_id -> BigInt,
        phone -> Text,
        name -> Text,
        vip -> Bool,
        notes -> Text,
    }
}

diesel::table! {
    calls (call_sid) {
        call_sid -> Text,
        business_number -> Text,
        from_number -> Text,
        to_number -> Text,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        input_audio_tokens -> BigInt,
        output_audio_tokens -> BigInt,
        cached_tokens -> BigInt,
        transport -> Text,
    }
}

diesel::table! {
    call_events (call_sid, seq) {
        call_sid -> Text,
        seq -> BigInt,
        kind -> Text,
        payload -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    call_inputs (call_sid, chunk) {
        call_sid -> Text,
        chunk -> BigInt,
        body -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    transcript_turns (call_sid, seq) {
        call_sid -> Text,
        seq -> BigInt,
        speaker -> Text,
        text -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    tool_invocations (call_sid, tool_call_id) {
        call_sid -> Text,
        tool_call_id -> Text,
        name -> Text,
        arguments -> Text,
        result -> Text,
        latency_ms -> BigInt,
        at -> Timestamp,
    }
}

diesel::table! {
    call_usage (call_sid, response_id) {
        call_sid -> Text,
        response_id -> Text,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        input_audio_tokens -> BigInt,
        output_audio_tokens -> BigInt,
        cached_tokens -> BigInt,
        at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        call_sid -> Nullable<Text>,
        business_number -> Text,
        caller_name -> Text,
        callback_number -> Text,
        subject -> Text,
        body -> Text,
        urgency -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    appointments (id) {
        id -> BigInt,
        business_number -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        name -> Text,
        phone -> Text,
        purpose -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    voicemails (id) {
        id -> BigInt,
        call_sid -> Text,
        recording_sid -> Text,
        recording_url -> Nullable<Text>,
        duration_secs -> Integer,
        transcript -> Nullable<Text>,
        created_at -> Timestamp,
        transcript_status -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        payload -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        dead -> Bool,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        ordering_key -> Nullable<Text>,
    }
}

diesel::table! {
    outbox_attempts (id) {
        id -> BigInt,
        outbox_id -> BigInt,
        attempt -> Integer,
        at -> Timestamp,
        duration_ms -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    privacy_requests (id) {
        id -> BigInt,
        kind -> Text,
        subject_hash -> Text,
        counts -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(departments -> businesses (business_id));
diesel::joinable!(contacts -> businesses (business_id));
diesel::joinable!(call_events -> calls (call_sid));
diesel::joinable!(transcript_turns -> calls (call_sid));
diesel::joinable!(tool_invocations -> calls (call_sid));
diesel::joinable!(call_usage -> calls (call_sid));
diesel::joinable!(call_inputs -> calls (call_sid));

diesel::allow_tables_to_appear_in_same_query!(
    businesses,
    departments,
    contacts,
    calls,
    call_events,
    call_inputs,
    transcript_turns,
    tool_invocations,
    call_usage,
    messages,
    appointments,
    voicemails,
    outbox,
    outbox_attempts,
    privacy_requests,
);
