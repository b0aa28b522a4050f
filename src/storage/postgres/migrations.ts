import type { Pool } from "pg";
import { exclusiveAccountGate } from "./account-gate.js";

// Part of version 6's text below, so never to be changed once shipped. otp_consume_code's checks
// of code `c` that both lanes make: the code named, live, and (when the caller sent one) with
// HMAC p_code_hash.
const USABLE_CODE = `c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id
               AND c.used_at IS NULL AND c.expires_at > p_now AND c.failures < p_max
               AND (p_code_hash IS NULL OR sha256(c.code_hash) = sha256(p_code_hash))`;

// And what using it does to the user row, once `used` says it was used: the latest
// verification wins, whichever commits last (GREATEST ignores a NULL).
const AUTHENTICATED = `owner AS (
            UPDATE otp_users u SET
              authenticated_at = GREATEST(u.authenticated_at, p_now),
              retain_until = GREATEST(u.retain_until, p_retain_until)
             WHERE u.email = p_email AND EXISTS (SELECT 1 FROM used)
            RETURNING u.user_id
          )`;

// Part of version 7's text below, likewise. The SHA-256 of the keyed hash the caller's code key
// makes of the otp id of code `c`: HMAC-SHA256 from the key's pads p_inner and p_outer
// (hmac-pads.ts), digested again to be compared with sha256(c.keyed_hash), as USABLE_CODE
// compares.
const KEYED_HASH_DIGEST =
  "sha256(sha256(p_outer || sha256(p_inner || convert_to(c.otp_id, 'UTF8'))))";

// The code `c` is live, and its keyed hash is the one the caller's code key makes. A code
// without one (written by version 6 or before) is not this one.
const LIVE_KEYED_CODE = `c.used_at IS NULL AND c.expires_at > p_now AND c.failures < p_max
               AND c.keyed_hash IS NOT NULL
               AND sha256(c.keyed_hash)
                   = ${KEYED_HASH_DIGEST}`;

// Part of version 8's text below, as is slotsTaking, so never to be changed once shipped. A slot
// as a bucket's row holds it, tagged with its share's tag and expiry when `tag` is not NULL.
const taggedSlot = (id: string, expires: string, tag: string, tagExpires: string) =>
  `jsonb_strip_nulls(jsonb_build_object('id', ${id}, 'exp', ${expires}, 'tag', ${tag},
                                        'texp', ${tagExpires}))`;

// A bucket's row `slots` taking the slots `fresh`: those alive to the bucket or to their share at
// `now`, in expiry order, with `fresh` appended if the bucket's live slots number under `count`
// and (unless `tag` is NULL) the tag's under `tagCount`.
const slotsTaking = (
  slots: string,
  fresh: string,
  now: string,
  count: string,
  tag: string,
  tagCount: string,
) => `(SELECT CASE WHEN count(*) FILTER (WHERE l.exp > ${now}) < ${count}
                                AND (${tag} IS NULL
                                     OR count(*) FILTER (WHERE l.tag = ${tag} AND l.texp > ${now})
                                        < ${tagCount})
                               THEN coalesce(jsonb_agg(l.e ORDER BY l.exp), '[]'::jsonb) || ${fresh}
                               ELSE coalesce(jsonb_agg(l.e ORDER BY l.exp), '[]'::jsonb) END
                     FROM (SELECT e, (e->>'exp')::bigint AS exp, e->>'tag' AS tag,
                                  (e->>'texp')::bigint AS texp
                             FROM jsonb_array_elements(${slots}) AS e) l
                    WHERE l.exp > ${now} OR l.texp > ${now})`;

// Part of versions 6 and 7 below, so never to be changed once shipped: the two lanes that use a
// code, one statement each (see version 6), into v_used and v_user. `bound` and `unbound` are
// each lane's conditions on the code `c` beyond those the lane adds (the cap; unbound: not
// burned, the latest, the pair not locked).
const consumeLanes = (bound: string, unbound: string) => `IF p_bound THEN
          WITH used AS (
            UPDATE otp_codes c SET used_at = p_now
             WHERE ${bound}
               AND NOT (SELECT count(*) >= p_cap AND coalesce(bool_or(f.network = p_network), false)
                          FROM otp_failures f WHERE f.email = p_email AND f.at > p_since)
            RETURNING 1
          ), ${AUTHENTICATED}
          SELECT EXISTS (SELECT 1 FROM used), (SELECT o.user_id FROM owner o) INTO v_used, v_user;
        ELSE
          WITH used AS (
            UPDATE otp_codes c SET used_at = p_now
             WHERE ${unbound}
               AND NOT c.unbound_burned
               AND NOT EXISTS (SELECT 1 FROM otp_codes l
                                WHERE l.email = p_email AND l.purpose = p_purpose AND l.seq > c.seq)
               AND NOT EXISTS (SELECT 1 FROM otp_attempts a
                                WHERE a.email = p_email AND a.purpose = p_purpose
                                  AND a.locked_until > p_now)
               AND (SELECT count(*) < p_cap FROM otp_failures f
                     WHERE f.email = p_email AND f.at > p_since)
            RETURNING 1
          ), cleared AS (
            DELETE FROM otp_attempts a
             WHERE a.email = p_email AND a.purpose = p_purpose AND EXISTS (SELECT 1 FROM used)
          ), ${AUTHENTICATED}
          SELECT EXISTS (SELECT 1 FROM used), (SELECT o.user_id FROM owner o) INTO v_used, v_user;
        END IF;`;

/**
 * Schema versions, applied in order, each once. Never edit one that has shipped: add another.
 *
 * Times the domain compares are `timestamptz`; slot expiries inside `otp_slots.slots` are epoch
 * milliseconds, as the domain passes them.
 */
export const migrations: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE otp_users (
        email            text PRIMARY KEY,
        created_at       timestamptz NOT NULL,
        authenticated_at timestamptz,
        retain_until     timestamptz NOT NULL
      );
      CREATE INDEX otp_users_retain_until ON otp_users (retain_until);

      -- The active code of each (email, purpose): only its HMAC.
      CREATE TABLE otp_codes (
        email        text NOT NULL,
        purpose      text NOT NULL,
        otp_id       text NOT NULL,
        code_hash    bytea NOT NULL,
        issued_at    timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL,
        used_at      timestamptz,
        retain_until timestamptz NOT NULL,
        PRIMARY KEY (email, purpose)
      );
      CREATE INDEX otp_codes_retain_until ON otp_codes (retain_until);

      -- Wrong codes per (email, purpose). The count means nothing once retain_until (the last
      -- failure's lockUntil) has passed: the next failure starts again from one.
      CREATE TABLE otp_attempts (
        email        text NOT NULL,
        purpose      text NOT NULL,
        failures     integer NOT NULL,
        locked_until timestamptz,
        retain_until timestamptz NOT NULL,
        PRIMARY KEY (email, purpose)
      );
      CREATE INDEX otp_attempts_retain_until ON otp_attempts (retain_until);

      -- One row per limit bucket holding its live slots, so that one upsert, serialised on the
      -- row, decides a grant: [{"id": slot id, "exp": epoch ms}, ...] oldest first.
      CREATE TABLE otp_slots (
        bucket     text PRIMARY KEY,
        slots      jsonb NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX otp_slots_expires_at ON otp_slots (expires_at);

      -- The slots of a bucket that are still live at now_ms, oldest first.
      CREATE FUNCTION otp_live_slots(slots jsonb, now_ms bigint) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(jsonb_agg(slot ORDER BY (slot->>'exp')::bigint), '[]'::jsonb)
        FROM jsonb_array_elements(slots) AS slot
        WHERE (slot->>'exp')::bigint > now_ms
      $$;

      -- Idempotency keys: a row without response is held by holder until lease_until.
      CREATE TABLE otp_idempotency (
        email       text NOT NULL,
        key         text NOT NULL,
        purpose     text NOT NULL,
        expires_at  timestamptz NOT NULL,
        response    jsonb,
        holder      text,
        lease_until timestamptz,
        PRIMARY KEY (email, key)
      );
      CREATE INDEX otp_idempotency_expires_at ON otp_idempotency (expires_at);
    `,
  },
  {
    version: 2,
    sql: `
      -- A stable random id per user (22 URL-safe characters, 122 random bits). The default also
      -- gives every existing row its own id, and rows that an instance of the previous version
      -- inserts during a rolling upgrade.
      ALTER TABLE otp_users ADD COLUMN user_id text NOT NULL
        DEFAULT translate(encode(decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64'), '+/=', '-_');
      CREATE UNIQUE INDEX otp_users_user_id ON otp_users (user_id);

      -- Sessions that verifications started: only a hash of each token. Kept until they expire,
      -- revoked or not.
      CREATE TABLE otp_sessions (
        token_hash bytea PRIMARY KEY,
        session_id text NOT NULL UNIQUE,
        user_id    text NOT NULL,
        email      text NOT NULL,
        purpose    text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz
      );
      CREATE INDEX otp_sessions_email ON otp_sessions (email);
      CREATE INDEX otp_sessions_user_id ON otp_sessions (user_id);
      CREATE INDEX otp_sessions_expires_at ON otp_sessions (expires_at);
    `,
  },
  {
    version: 3,
    sql: `
      -- What a person sees of their sessions (ListSessions) and the idle limit
      -- (SESSION_IDLE_TTL). The defaults fill rows an instance of the previous version inserts
      -- during a rolling upgrade: now() is the database's clock, which is the service's, so
      -- last_seen_at is then the creation time; existing rows were last seen, as far as anyone
      -- knows, when they were created. client_address is only ever a masked network.
      ALTER TABLE otp_sessions
        ADD COLUMN last_seen_at   timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN client_address text NOT NULL DEFAULT '',
        ADD COLUMN user_agent     text NOT NULL DEFAULT '';
      UPDATE otp_sessions SET last_seen_at = created_at;
    `,
  },
  {
    version: 4,
    sql: `
      -- Several live codes per (email, purpose): a verification names one by its otp_id (and is
      -- judged against it alone), or means the pair's latest. Each code counts its own wrong
      -- bound attempts; the unbound lane's lock burns a code for unbound verification only.
      ALTER TABLE otp_codes DROP CONSTRAINT otp_codes_pkey;
      ALTER TABLE otp_codes ADD PRIMARY KEY (email, purpose, otp_id);
      ALTER TABLE otp_codes ADD COLUMN failures integer NOT NULL DEFAULT 0;
      ALTER TABLE otp_codes ADD COLUMN unbound_burned boolean NOT NULL DEFAULT false;
      -- The order codes were activated in: the pair's latest is its highest. Not issued_at, which
      -- two codes of one millisecond share, and which instances' clocks may disagree on.
      ALTER TABLE otp_codes ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
      CREATE INDEX otp_codes_latest ON otp_codes (email, purpose, seq DESC);

      -- Each wrong code an account was sent, and the network it came from: the failure cap.
      CREATE TABLE otp_failures (
        email        text NOT NULL,
        at           timestamptz NOT NULL,
        network      text NOT NULL,
        retain_until timestamptz NOT NULL
      );
      CREATE INDEX otp_failures_email_at ON otp_failures (email, at);
      CREATE INDEX otp_failures_retain_until ON otp_failures (retain_until);

      -- The helpers below are PL/pgSQL although each is one query: a SQL function with a FROM
      -- is not inlined, and before PostgreSQL 18 its plan is made anew on every call, which
      -- doubled VerifyOtp's database time; PL/pgSQL keeps its plans per connection. STABLE: they
      -- read with the snapshot of the statement that calls them.

      -- Whether the account's failure cap refuses an attempt (domain/failure-cap.ts): it has
      -- p_cap failures after p_since, and the attempt is unbound or from a network among them.
      CREATE FUNCTION otp_capped(p_email text, p_bound boolean, p_network text,
                                 p_since timestamptz, p_cap integer) RETURNS boolean
      LANGUAGE plpgsql STABLE AS $$
      BEGIN
        RETURN (SELECT count(*) >= p_cap
                       AND (NOT p_bound OR coalesce(bool_or(f.network = p_network), false))
                  FROM otp_failures f WHERE f.email = p_email AND f.at > p_since);
      END
      $$;

      -- The account's failures after p_since, oldest first, as [[epoch ms, network], ...].
      CREATE FUNCTION otp_failures_since(p_email text, p_since timestamptz) RETURNS jsonb
      LANGUAGE plpgsql STABLE AS $$
      BEGIN
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(round(extract(epoch FROM f.at) * 1000),
                                                            f.network) ORDER BY f.at), '[]'::jsonb)
                  FROM otp_failures f WHERE f.email = p_email AND f.at > p_since);
      END
      $$;

      -- The steps that judge an attempt (count a failure, use a code) take the account's gate
      -- first (otp_lock_account), so that they run one at a time per account and each statement after the lock
      -- sees what the one before committed (a VOLATILE function reads with a fresh snapshot per
      -- statement): the cap, a code's attempts and the unbound count are then exact under races,
      -- in one round trip.

      -- Takes the account gate exclusive (account-gate.ts): the steps that judge an attempt run
      -- one at a time per account, and an erasure or a revocation of it (exclusive too) and a
      -- new code (shared) come wholly before or after. A lock in memory rather than the user
      -- row's FOR UPDATE, which would write to the row on every verification. False when the
      -- account has no user record (and so no code), read after the lock.
      CREATE FUNCTION otp_lock_account(p_email text) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM ${exclusiveAccountGate("p_email")};
        RETURN EXISTS (SELECT 1 FROM otp_users u WHERE u.email = p_email);
      END
      $$;

      -- Whether code p_otp_id is the pair's latest and not burned: what unbound verification
      -- judges.
      CREATE FUNCTION otp_is_unbound_latest(p_email text, p_purpose text, p_otp_id text)
      RETURNS boolean LANGUAGE plpgsql STABLE AS $$
      BEGIN
        RETURN EXISTS (SELECT 1 FROM (SELECT l.otp_id, l.unbound_burned FROM otp_codes l
                                       WHERE l.email = p_email AND l.purpose = p_purpose
                                       ORDER BY l.seq DESC LIMIT 1) latest
                        WHERE latest.otp_id = p_otp_id AND NOT latest.unbound_burned);
      END
      $$;

      -- Counts a wrong code compared with code p_otp_id (see the store port's recordFailure). No
      -- row when not counted.
      CREATE FUNCTION otp_record_failure(
        p_email text, p_purpose text, p_otp_id text, p_bound boolean, p_network text,
        p_now timestamptz, p_since timestamptz, p_cap integer, p_max integer,
        p_lock_until timestamptz, p_retain_until timestamptz)
      RETURNS TABLE (failures integer, locked_until timestamptz, account_failures jsonb)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_failures integer;
        v_locked timestamptz;
      BEGIN
        -- Two statements: the cap is read with a snapshot taken after the lock.
        IF NOT otp_lock_account(p_email) THEN
          RETURN;
        END IF;
        IF otp_capped(p_email, p_bound, p_network, p_since, p_cap) THEN
          RETURN;
        END IF;
        -- The code compared must still be live; unbound, also still the latest and not burned.
        IF NOT EXISTS (SELECT 1 FROM otp_codes c
                        WHERE c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id
                          AND c.used_at IS NULL AND c.expires_at > p_now AND c.failures < p_max)
           OR (NOT p_bound AND NOT otp_is_unbound_latest(p_email, p_purpose, p_otp_id)) THEN
          RETURN;
        END IF;
        IF p_bound THEN
          UPDATE otp_codes c SET failures = c.failures + 1
           WHERE c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id
          RETURNING c.failures INTO v_failures;
        ELSE
          -- A count whose last failure's lock_until passed starts again from one.
          INSERT INTO otp_attempts AS a (email, purpose, failures, locked_until, retain_until)
          VALUES (p_email, p_purpose, 1, CASE WHEN 1 >= p_max THEN p_lock_until END, p_lock_until)
          ON CONFLICT (email, purpose) DO UPDATE SET
            failures = CASE WHEN a.retain_until <= p_now THEN 1 ELSE a.failures + 1 END,
            locked_until = CASE WHEN (CASE WHEN a.retain_until <= p_now THEN 1 ELSE a.failures + 1 END)
                                     >= p_max THEN p_lock_until END,
            retain_until = p_lock_until
          WHERE a.locked_until IS NULL OR a.locked_until <= p_now
          RETURNING a.failures, a.locked_until INTO v_failures, v_locked;
          IF NOT FOUND THEN
            RETURN;
          END IF;
          IF v_locked IS NOT NULL THEN
            UPDATE otp_codes c SET unbound_burned = true
             WHERE c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id;
          END IF;
        END IF;
        INSERT INTO otp_failures (email, at, network, retain_until)
        VALUES (p_email, p_now, p_network, p_retain_until);
        RETURN QUERY SELECT v_failures, v_locked, otp_failures_since(p_email, p_since);
      END
      $$;

      -- Takes slot p_slot in every bucket, all or none (see the store port's takeSlots): the
      -- buckets' rows are locked in one order (by name), so that concurrent takers of overlapping
      -- buckets wait rather than deadlock, and pruned of dead slots; then either each is over its
      -- count (refused: the first such bucket's 0-based index, and when its oldest slot frees) or
      -- the slot is appended to all (what each has left).
      CREATE FUNCTION otp_take_slots(p_buckets text[], p_counts integer[], p_windows bigint[],
                                     p_slot text, p_now_ms bigint)
      RETURNS TABLE (refused integer, retry_at bigint, remaining integer[])
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_live jsonb[] := '{}';
        v_slots jsonb;
        v_remaining integer[] := '{}';
        i integer;
      BEGIN
        FOR i IN SELECT b.ord FROM unnest(p_buckets) WITH ORDINALITY AS b (name, ord) ORDER BY b.name
        LOOP
          INSERT INTO otp_slots AS s (bucket, slots, expires_at)
          VALUES (p_buckets[i], '[]'::jsonb, to_timestamp((p_now_ms + p_windows[i]) / 1000.0))
          ON CONFLICT (bucket) DO UPDATE SET slots = otp_live_slots(s.slots, p_now_ms)
          RETURNING s.slots INTO v_slots;
          v_live[i] := v_slots;
        END LOOP;
        FOR i IN 1 .. array_length(p_buckets, 1) LOOP
          IF jsonb_array_length(v_live[i]) >= p_counts[i] THEN
            RETURN QUERY SELECT i - 1, (v_live[i] -> 0 ->> 'exp')::bigint, NULL::integer[];
            RETURN;
          END IF;
        END LOOP;
        FOR i IN 1 .. array_length(p_buckets, 1) LOOP
          UPDATE otp_slots s
             SET slots = v_live[i] || jsonb_build_array(
                   jsonb_build_object('id', p_slot, 'exp', p_now_ms + p_windows[i])),
                 expires_at = GREATEST(s.expires_at, to_timestamp((p_now_ms + p_windows[i]) / 1000.0))
           WHERE s.bucket = p_buckets[i];
          v_remaining[i] := p_counts[i] - jsonb_array_length(v_live[i]) - 1;
        END LOOP;
        RETURN QUERY SELECT NULL::integer, NULL::bigint, v_remaining;
      END
      $$;

      -- Uses a code (see the store port's consumeCode): the user id, or NULL when refused. The
      -- session is inserted by the calling statement, from this answer.
      CREATE FUNCTION otp_use_code(
        p_email text, p_purpose text, p_otp_id text, p_bound boolean, p_network text,
        p_now timestamptz, p_since timestamptz, p_cap integer, p_max integer,
        p_retain_until timestamptz, p_user_id text)
      RETURNS text
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        v_user text;
      BEGIN
        PERFORM otp_lock_account(p_email);
        IF otp_capped(p_email, p_bound, p_network, p_since, p_cap) THEN
          RETURN NULL;
        END IF;
        IF NOT p_bound
           AND (EXISTS (SELECT 1 FROM otp_attempts a WHERE a.email = p_email AND a.purpose = p_purpose
                           AND a.locked_until > p_now)
                OR NOT otp_is_unbound_latest(p_email, p_purpose, p_otp_id)) THEN
          RETURN NULL;
        END IF;
        UPDATE otp_codes c SET used_at = p_now
         WHERE c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id
           AND c.used_at IS NULL AND c.expires_at > p_now AND c.failures < p_max;
        IF NOT FOUND THEN
          RETURN NULL;
        END IF;
        IF NOT p_bound THEN
          DELETE FROM otp_attempts a WHERE a.email = p_email AND a.purpose = p_purpose;
        END IF;
        -- The user row is there (a code has one, and the gate keeps an erasure out): an UPDATE,
        -- not an upsert's speculative insertion. The latest verification wins, whichever commits
        -- last (GREATEST ignores a NULL).
        UPDATE otp_users u SET
          authenticated_at = GREATEST(u.authenticated_at, p_now),
          retain_until = GREATEST(u.retain_until, p_retain_until)
         WHERE u.email = p_email
        RETURNING u.user_id INTO v_user;
        IF NOT FOUND THEN
          INSERT INTO otp_users (email, user_id, created_at, authenticated_at, retain_until)
          VALUES (p_email, p_user_id, p_now, p_now, p_retain_until)
          RETURNING user_id INTO v_user;
        END IF;
        RETURN v_user;
      END
      $$;
    `,
  },
  {
    version: 5,
    sql: `
      -- The audit trail (SPEC "Session lifecycle"): what happened to an account, written by the
      -- statement that made the change. email is the account's key until an erasure empties it
      -- (with client_address and user_agent); user_id stays. Never a code or a token.
      CREATE TABLE otp_audit_events (
        seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        type           text NOT NULL,
        at             timestamptz NOT NULL,
        email          text NOT NULL,
        user_id        text NOT NULL,
        purpose        text NOT NULL,
        session_id     text NOT NULL,
        client_address text NOT NULL,
        user_agent     text NOT NULL,
        request_id     text NOT NULL,
        reason         text NOT NULL,
        retain_until   timestamptz NOT NULL
      );
      CREATE INDEX otp_audit_events_email ON otp_audit_events (email, at, seq);
      CREATE INDEX otp_audit_events_user_id ON otp_audit_events (user_id, at, seq);
      CREATE INDEX otp_audit_events_retain_until ON otp_audit_events (retain_until);

      -- otp_record_failure (version 4), and its events in the same step: otp.verify_failed for a
      -- counted failure and, when it locked, otp.locked with the lock's scope (audit-event.ts
      -- lockScopeOfFailure: the account's cap, then the unbound lock, then a bound code out of
      -- attempts). A function of its own, so that instances of version 4 keep theirs during a
      -- rolling upgrade.
      CREATE FUNCTION otp_record_audited_failure(
        p_email text, p_purpose text, p_otp_id text, p_bound boolean, p_network text,
        p_now timestamptz, p_since timestamptz, p_cap integer, p_max integer,
        p_lock_until timestamptz, p_retain_until timestamptz,
        p_request_id text, p_client_address text, p_user_agent text, p_audit_until timestamptz)
      RETURNS TABLE (failures integer, locked_until timestamptz, account_failures jsonb)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        r record;
        v_user text;
        v_scope text;
      BEGIN
        SELECT * INTO r FROM otp_record_failure(p_email, p_purpose, p_otp_id, p_bound, p_network,
          p_now, p_since, p_cap, p_max, p_lock_until, p_retain_until);
        IF NOT FOUND THEN
          RETURN;
        END IF;
        v_user := coalesce((SELECT u.user_id FROM otp_users u WHERE u.email = p_email), '');
        v_scope := CASE WHEN jsonb_array_length(r.account_failures) >= p_cap THEN 'account'
                        WHEN r.locked_until IS NOT NULL THEN 'unbound'
                        WHEN p_bound AND r.failures >= p_max THEN 'code' END;
        INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id, client_address,
                                      user_agent, request_id, reason, retain_until)
        SELECT e.type, p_now, p_email, v_user, p_purpose, '', p_client_address, p_user_agent,
               p_request_id, e.reason, p_audit_until
          FROM (VALUES (1, 'otp.verify_failed', 'mismatch'), (2, 'otp.locked', v_scope)) AS e (ord, type, reason)
         WHERE e.reason IS NOT NULL
         ORDER BY e.ord;
        RETURN QUERY SELECT r.failures, r.locked_until, r.account_failures;
      END
      $$;
    `,
  },
  {
    version: 6,
    sql: `
      -- Uses a code as otp_use_code (version 4) does, in two statements rather than eight, for
      -- speed: the account's gate, then one statement, with a snapshot taken after it, whose
      -- WHERE holds every check (the cap, the code live, unbound: not locked, the latest and not
      -- burned) and whose other parts clear the unbound failures and update the user row. With
      -- p_code_hash, also only a code whose HMAC is that one: a bound verification that has read
      -- nothing compares in the same step. Compared as SHA-256 digests of both, so that where
      -- the comparison stops says nothing of the stored HMAC. One statement per lane rather than
      -- one with \`p_bound OR …\`: PostgreSQL would find a plan made for the bound lane's
      -- values cheaper than the generic one and plan that statement anew on every call.
      -- otp_use_code stays for instances of version 5 during a rolling upgrade.
      CREATE FUNCTION otp_consume_code(
        p_email text, p_purpose text, p_otp_id text, p_bound boolean, p_network text,
        p_now timestamptz, p_since timestamptz, p_cap integer, p_max integer,
        p_retain_until timestamptz, p_user_id text, p_code_hash bytea)
      RETURNS text
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        v_used boolean;
        v_user text;
      BEGIN
        PERFORM ${exclusiveAccountGate("p_email")};
        ${consumeLanes(USABLE_CODE, USABLE_CODE)}
        IF v_used AND v_user IS NULL THEN
          -- A code has its user row (activateCode writes both, and the gate keeps an erasure
          -- out); this only mends a row lost some other way.
          INSERT INTO otp_users (email, user_id, created_at, authenticated_at, retain_until)
          VALUES (p_email, p_user_id, p_now, p_now, p_retain_until)
          RETURNING user_id INTO v_user;
        END IF;
        RETURN v_user;
      END
      $$;

      -- Takes slot p_slot in every bucket, all or none, as version 4's otp_take_slots did (same
      -- answer), in one statement rather than two per bucket: one upsert of every bucket's row,
      -- in one order (by name) so that concurrent takers of overlapping buckets wait rather than
      -- deadlock, prunes each of dead slots and appends the slot where there is room. When one
      -- had none, a second statement takes the slot out of the rest again, which this
      -- transaction still holds locked: nobody sees it taken. The live slots are an inline
      -- subquery, planned with the statement, rather than otp_live_slots, a SQL function planned
      -- anew on each call; and the answer is one row of OUT parameters rather than a set, which
      -- PL/pgSQL would gather in a tuplestore first. Replaced under the same name and
      -- arguments: instances of version 5 call it as before and get the same answer.
      DROP FUNCTION otp_take_slots(text[], integer[], bigint[], text, bigint);
      CREATE FUNCTION otp_take_slots(p_buckets text[], p_counts integer[], p_windows bigint[],
                                     p_slot text, p_now_ms bigint, OUT refused integer,
                                     OUT retry_at bigint, OUT remaining integer[])
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_took boolean[];
        v_left integer[];
        v_oldest bigint[];
      BEGIN
        WITH taken AS (
          INSERT INTO otp_slots AS s (bucket, slots, expires_at)
          SELECT b.name,
                 jsonb_build_array(jsonb_build_object('id', p_slot, 'exp', p_now_ms + p_windows[b.ord])),
                 to_timestamp((p_now_ms + p_windows[b.ord]) / 1000.0)
            FROM unnest(p_buckets) WITH ORDINALITY AS b (name, ord)
           ORDER BY b.name
          ON CONFLICT (bucket) DO UPDATE SET
            slots = (SELECT CASE WHEN jsonb_array_length(l.live) < p_counts[array_position(p_buckets, s.bucket)]
                                 THEN l.live || EXCLUDED.slots ELSE l.live END
                       FROM (SELECT coalesce(jsonb_agg(e ORDER BY (e->>'exp')::bigint), '[]'::jsonb) AS live
                               FROM jsonb_array_elements(s.slots) AS e
                              WHERE (e->>'exp')::bigint > p_now_ms) l),
            expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at)
          RETURNING s.bucket, s.slots
        )
        SELECT array_agg(t.slots -> -1 ->> 'id' = p_slot ORDER BY t.ord),
               array_agg(p_counts[t.ord] - jsonb_array_length(t.slots) ORDER BY t.ord),
               array_agg((t.slots -> 0 ->> 'exp')::bigint ORDER BY t.ord)
          INTO v_took, v_left, v_oldest
          FROM (SELECT array_position(p_buckets, k.bucket) AS ord, k.slots FROM taken k) t;
        refused := array_position(v_took, false);
        IF refused IS NULL THEN
          remaining := v_left;
          RETURN;
        END IF;
        UPDATE otp_slots s SET slots = (
          SELECT coalesce(jsonb_agg(x.e ORDER BY x.pos), '[]'::jsonb)
            FROM jsonb_array_elements(s.slots) WITH ORDINALITY AS x (e, pos)
           WHERE x.e ->> 'id' <> p_slot)
         WHERE s.bucket = ANY (p_buckets) AND s.slots -> -1 ->> 'id' = p_slot;
        retry_at := v_oldest[refused];
        refused := refused - 1;
      END
      $$;
    `,
  },
  {
    version: 7,
    sql: `
      -- A code's second HMAC (domain/otp-code.ts keyedCodeHash): of its otp id, keyed by the
      -- code's key, so that a verification that has read nothing finds the code its digits make,
      -- bound or the pair's latest. NULL for codes written by version 6 and before.
      ALTER TABLE otp_codes ADD COLUMN keyed_hash bytea;

      -- A verification's first step, before it has read anything: the code p_otp_id (bound) or
      -- the pair's latest (unbound; p_otp_id is then NULL) judged by the key its digits make,
      -- of which p_inner and p_outer are the HMAC pads. Under the account's gate: used, as
      -- otp_consume_code (version 6) uses a code, if its keyed hash is the key's (user_id); else,
      -- if it has one the key does not make, the attempt counted as a wrong code by
      -- otp_record_audited_failure (version 5), with its answer and the code's expiry; else
      -- nothing (all NULL), and the caller reads. So no attempt is compared without being
      -- counted. One statement per lane, as in otp_consume_code. A function of its own, so that
      -- instances of version 6 keep theirs during a rolling upgrade.
      CREATE FUNCTION otp_attempt_keyed_code(
        p_email text, p_purpose text, p_otp_id text, p_bound boolean, p_network text,
        p_now timestamptz, p_since timestamptz, p_cap integer, p_max integer,
        p_retain_until timestamptz, p_user_id text, p_inner bytea, p_outer bytea,
        p_lock_until timestamptz, p_failure_until timestamptz, p_request_id text,
        p_client_address text, p_user_agent text, p_audit_until timestamptz,
        OUT user_id text, OUT failures integer, OUT locked_until timestamptz,
        OUT account_failures jsonb, OUT expires_at timestamptz)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_used boolean;
        v_user text;
        v_otp_id text;
        v_wrong boolean;
        v_expires timestamptz;
        r record;
      BEGIN
        PERFORM ${exclusiveAccountGate("p_email")};
        ${consumeLanes(
          `c.email = p_email AND c.purpose = p_purpose AND c.otp_id = p_otp_id
               AND ${LIVE_KEYED_CODE}`,
          `c.email = p_email AND c.purpose = p_purpose AND c.otp_id = coalesce(p_otp_id, c.otp_id)
               AND ${LIVE_KEYED_CODE}`,
        )}
        IF v_used THEN
          IF v_user IS NULL THEN
            -- As in otp_consume_code: only mends a user row lost some other way.
            INSERT INTO otp_users AS u (email, user_id, created_at, authenticated_at, retain_until)
            VALUES (p_email, p_user_id, p_now, p_now, p_retain_until)
            RETURNING u.user_id INTO v_user;
          END IF;
          user_id := v_user;
          RETURN;
        END IF;
        -- Not used: the code compared, and whether it has a keyed hash the key does not make.
        SELECT c.otp_id, c.expires_at, c.keyed_hash IS NOT NULL AND sha256(c.keyed_hash)
                 <> ${KEYED_HASH_DIGEST}
          INTO v_otp_id, v_expires, v_wrong
          FROM otp_codes c
         WHERE c.email = p_email AND c.purpose = p_purpose AND c.otp_id = coalesce(p_otp_id, c.otp_id)
         ORDER BY c.seq DESC LIMIT 1;
        IF v_wrong THEN
          -- Counted only as a wrong code compared with it would be (live, not capped, unbound:
          -- the latest, not burned, not locked); the gate it takes again is this one's.
          SELECT * INTO r FROM otp_record_audited_failure(p_email, p_purpose, v_otp_id, p_bound,
            p_network, p_now, p_since, p_cap, p_max, p_lock_until, p_failure_until, p_request_id,
            p_client_address, p_user_agent, p_audit_until);
          IF FOUND THEN
            failures := r.failures;
            locked_until := r.locked_until;
            account_failures := r.account_failures;
            expires_at := v_expires;
          END IF;
        END IF;
      END
      $$;
    `,
  },
  {
    version: 8,
    sql: `
      -- A bucket's share (store port: SlotLimit's share; limits.ts) kept in the bucket's row: a
      -- slot taken with one is tagged with the share's tag and expiry, and counts for the share
      -- while that expiry has not passed, for the bucket while its own has not. A slot without a
      -- tag (version 7 and before) counts for the bucket only. Version 7's functions stay, for
      -- its instances during a rolling upgrade; they keep the tags of the slots they find.

      -- One bucket and its share, in one statement on the bucket's row: the upsert takes the
      -- row's lock, drops the slots dead to both windows and appends the slot only if the row's
      -- live slots are under p_count and (p_tag not NULL) the tag's under p_tag_count. Answers the
      -- row's slots, from which the caller reads the answer. A PL/pgSQL function rather than the
      -- statement itself, so that behind a transaction pooler too it is planned once per
      -- connection.
      CREATE FUNCTION otp_take_slot_row(p_bucket text, p_slot text, p_now_ms bigint,
                                        p_expires_ms bigint, p_count integer, p_tag text,
                                        p_tag_count integer, p_tag_expires_ms bigint)
      RETURNS jsonb
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      DECLARE
        v_slots jsonb;
      BEGIN
        INSERT INTO otp_slots AS s (bucket, slots, expires_at)
        VALUES (p_bucket,
                jsonb_build_array(${taggedSlot("p_slot", "p_expires_ms", "p_tag", "p_tag_expires_ms")}),
                to_timestamp(GREATEST(p_expires_ms, p_tag_expires_ms) / 1000.0))
        ON CONFLICT (bucket) DO UPDATE SET
          slots = ${slotsTaking("s.slots", "EXCLUDED.slots", "p_now_ms", "p_count", "p_tag", "p_tag_count")},
          expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at)
        RETURNING s.slots INTO v_slots;
        RETURN v_slots;
      END
      $$;

      -- Several buckets, each perhaps with a share (p_tags[i] NULL: none), all or none, as
      -- version 6's otp_take_slots takes them: one upsert of every bucket's row in name order
      -- (so that overlapping takers wait rather than deadlock) appends the slot where there is
      -- room, and when one had none a second statement takes it out of the rest again, which
      -- this transaction still holds locked. Answers whether the slot was taken, and each
      -- bucket's slots as its upsert left them, in p_buckets' order, from which the caller reads
      -- the rest of the answer as otp_take_slot_row's.
      CREATE FUNCTION otp_take_shared_slots(p_buckets text[], p_counts integer[],
                                            p_windows bigint[], p_tags text[],
                                            p_tag_counts integer[], p_tag_windows bigint[],
                                            p_slot text, p_now_ms bigint, OUT took boolean,
                                            OUT slots jsonb)
      LANGUAGE plpgsql VOLATILE AS $$
      #variable_conflict use_column
      BEGIN
        WITH taken AS (
          INSERT INTO otp_slots AS s (bucket, slots, expires_at)
          SELECT b.name,
                 jsonb_build_array(${taggedSlot(
                   "p_slot",
                   "p_now_ms + p_windows[b.ord]",
                   "p_tags[b.ord]",
                   "p_now_ms + p_tag_windows[b.ord]",
                 )}),
                 to_timestamp(GREATEST(p_now_ms + p_windows[b.ord],
                                       p_now_ms + p_tag_windows[b.ord]) / 1000.0)
            FROM unnest(p_buckets) WITH ORDINALITY AS b (name, ord)
           ORDER BY b.name
          ON CONFLICT (bucket) DO UPDATE SET
            slots = ${slotsTaking(
              "s.slots",
              "EXCLUDED.slots",
              "p_now_ms",
              "p_counts[array_position(p_buckets, s.bucket)]",
              "p_tags[array_position(p_buckets, s.bucket)]",
              "p_tag_counts[array_position(p_buckets, s.bucket)]",
            )},
            expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at)
          RETURNING s.bucket, s.slots
        )
        SELECT bool_and(t.slots -> -1 ->> 'id' = p_slot), jsonb_agg(t.slots ORDER BY t.ord)
          INTO took, slots
          FROM (SELECT array_position(p_buckets, x.bucket) AS ord, x.slots FROM taken x) t;
        IF NOT took THEN
          UPDATE otp_slots s SET slots = (
            SELECT coalesce(jsonb_agg(x.e ORDER BY x.pos), '[]'::jsonb)
              FROM jsonb_array_elements(s.slots) WITH ORDINALITY AS x (e, pos)
             WHERE x.e ->> 'id' <> p_slot)
           WHERE s.bucket = ANY (p_buckets) AND s.slots -> -1 ->> 'id' = p_slot;
        END IF;
      END
      $$;
    `,
  },
];

// Any constant works; it only has to be the same for every instance of this service.
const MIGRATION_LOCK = 4_201_337;

/**
 * Brings the schema up to date. Safe when several instances start at once: a transaction-scoped
 * advisory lock lets one migrate while the others wait, and they then find nothing left to do.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS otp_schema_migrations (
        version    integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>(
      "SELECT version FROM otp_schema_migrations",
    );
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (!done.has(migration.version)) {
        await client.query(migration.sql);
        await client.query("INSERT INTO otp_schema_migrations (version) VALUES ($1)", [
          migration.version,
        ]);
        applied.push(migration.version);
      }
    }
    await client.query("COMMIT");
    return applied;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
