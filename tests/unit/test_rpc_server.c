/* The RPC server (node/rpc/rpc_server.c) as a user meets it: a real TCP
 * connection on loopback, the sealed handshake, and the blocking client the
 * CLI uses (rpc_client.h).
 *
 * Each test sets up just enough of an agent in-process: a libuv loop, a SWIM
 * core whose send callback drops every packet (the agent is alone, or knows
 * one peer merged from a second core's state), the RPC key derived from a
 * known token, and the RPC listener on 127.0.0.1 with a port the kernel
 * picks. The loop runs in the test's thread; a second thread plays the
 * client and only records what it saw, since cmocka's assertions must run in
 * the test's thread. The client thread wakes the loop with an async handle
 * when its script ends, and a deadline timer stops the loop regardless, so
 * no test can hang: every client call has its own timeout too. After the
 * loop stops, the thread is joined, every handle is closed, and the loop
 * must close clean. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/net.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_seal.h"

#define TOKEN "the-rpc-token-of-this-test-0123456789"
#define WRONG_TOKEN "not-the-token-of-this-test-9876543210"
#define AGENT_NAME "rpc-agent"
#define PEER_NAME "rpc-peer"

/* Every client call gives up after this; the loop stops after RUN_MS
 * whatever happens, which is longer than any script's calls together. */
#define CALL_MS 3000
#define RUN_MS 30000

/* What a client thread saw of one call. */
typedef struct seen {
    int rc;         /* sl__rpc_call's or sl__rpc_read's return */
    int err_no;     /* errno right after it */
    bool refused;   /* c->refused */
    json_int_t seq; /* the seq the client sent */
    json_t *reply;  /* owned */
    char err[512];
} seen;

#define SEEN_MAX 16

typedef struct rig rig;
typedef void (*script_fn)(rig *r);

struct rig {
    sl__agent *a;
    char hostport[SL_ADDR_STRLEN];
    uint8_t key[SL__SEAL_KEYBYTES];
    uv_async_t done;     /* the client thread's script has ended */
    uv_timer_t deadline; /* stops the loop whatever happens */
    bool timed_out;
    script_fn script;
    seen seen[SEEN_MAX];
    int nseen;
};

/* ---- the agent, just enough of it ---- */

static void drop_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)ud, (void)to, (void)buf, (void)len;
}

static void on_done(uv_async_t *h)
{
    uv_stop(h->loop);
}

static void on_deadline(uv_timer_t *t)
{
    rig *r = t->data;
    r->timed_out = true;
    uv_stop(t->loop);
}

static sl_swim *new_core(const char *name, const char *addr, uint32_t gen, uint64_t now)
{
    sl_swim_config sc = {
        .name = name, .cluster = "", .generation = gen, .seed = gen, .cb = {.send = drop_send}};
    assert_int_equal(sl_addr_parse(addr, 0, &sc.addr), 0);
    assert_int_equal(sl_swim_profile("local", &sc.timing), 0);
    sl_swim *s = NULL;
    assert_int_equal(sl_swim_new(&sc, now, &s), 0);
    return s;
}

/* Merges a second core's join state into the agent's core, so that it
 * knows one alive peer. */
static void add_peer(sl__agent *a)
{
    uint64_t now = sl__agent_now(a);
    sl_swim *peer = new_core(PEER_NAME, "127.0.0.2:7946", 5, now);
    uint8_t *state = NULL;
    size_t len = 0;
    assert_int_equal(sl_swim_encode_state(peer, true, &state, &len), 0);
    assert_int_equal(sl_swim_merge_state(a->swim, state, len, now, NULL), 0);
    free(state);
    sl_swim_free(peer);
    assert_int_equal(sl_swim_size(a->swim), 2);
}

static int setup(void **state)
{
    rig *r = calloc(1, sizeof *r);
    sl__agent *a = calloc(1, sizeof *a);
    assert_non_null(r);
    assert_non_null(a);
    r->a = a;
    snprintf(a->cfg.name, sizeof a->cfg.name, "%s", AGENT_NAME);
    snprintf(a->cfg.profile, sizeof a->cfg.profile, "local");
    a->cfg.rpc_idle_ms = SL__RPC_IDLE_MS;
    a->cfg.rpc_auth_timeout_ms = SL__RPC_AUTH_TIMEOUT_MS;
    a->cfg.rpc_max_monitors = SL__RPC_MONITORS_MAX;
    assert_int_equal(sl_addr_parse("127.0.0.1:7946", 0, &a->cfg.bind), 0);
    a->cfg.advertise = a->cfg.bind;
    assert_int_equal(sl_addr_parse("127.0.0.1:0", 0, &a->cfg.rpc), 0);
    a->lock_fd = -1;
    a->generation = 7;
    sl_keyring_init(&a->keyring);

    assert_int_equal(uv_loop_init(&a->loop), 0);
    a->loop.data = a;
    a->started_ms = sl__agent_now(a);
    a->swim = new_core(a->cfg.name, "127.0.0.1:7946", a->generation, a->started_ms);

    /* The RPC key from a known token, as sl__rpc_token_agent derives it. */
    sl__seal_token_key(TOKEN, strlen(TOKEN), a->rpc_auth.key);
    memcpy(r->key, a->rpc_auth.key, sizeof r->key);
    snprintf(a->rpc_auth.source, sizeof a->rpc_auth.source, "flag");

    /* The RPC listener, as open_handles() binds it, on a port of the
     * kernel's choosing. */
    struct sockaddr_storage ss;
    int len = sizeof ss;
    assert_int_equal(uv_tcp_init(&a->loop, &a->rpc_tcp), 0);
    a->rpc_tcp.data = a;
    sl__addr_to_sockaddr(&a->cfg.rpc, &ss);
    assert_int_equal(uv_tcp_bind(&a->rpc_tcp, (const struct sockaddr *)&ss, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&a->rpc_tcp, (struct sockaddr *)&ss, &len), 0);
    assert_int_equal(sl__addr_from_sockaddr((const struct sockaddr *)&ss, &a->cfg.rpc), 0);
    assert_int_not_equal(a->cfg.rpc.port, 0);
    sl_addr_format(&a->cfg.rpc, r->hostport, sizeof r->hostport);
    assert_int_equal(sl__rpc_listen(a), 0);

    assert_int_equal(uv_async_init(&a->loop, &r->done, on_done), 0);
    assert_int_equal(uv_timer_init(&a->loop, &r->deadline), 0);
    r->deadline.data = r;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    rig *r = *state;
    sl__agent *a = r->a;
    sl__rpc_close_all(a);
    uv_close((uv_handle_t *)&r->done, NULL);
    uv_close((uv_handle_t *)&r->deadline, NULL);
    /* Only close callbacks are left: a few turns of the loop run them. */
    for (int i = 0; i < 100 && uv_loop_alive(&a->loop); i++)
        uv_run(&a->loop, UV_RUN_NOWAIT);
    assert_int_equal(a->nrpc, 0);
    assert_int_equal(uv_loop_close(&a->loop), 0);
    sl_swim_free(a->swim);
    for (int i = 0; i < r->nseen; i++)
        json_decref(r->seen[i].reply);
    free(a);
    free(r);
    return 0;
}

static void *client_main(void *arg)
{
    rig *r = arg;
    r->script(r);
    uv_async_send(&r->done);
    return NULL;
}

/* Runs script in a client thread while the loop serves it, then joins the
 * thread. Fails the test when the loop had to be stopped by the deadline. */
static void run(rig *r, script_fn script)
{
    pthread_t t;
    r->script = script;
    uv_timer_start(&r->deadline, on_deadline, RUN_MS, 0);
    assert_int_equal(pthread_create(&t, NULL, client_main, r), 0);
    uv_run(&r->a->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&r->deadline);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_false(r->timed_out);
}

/* ---- the client thread's helpers: they record, never assert ---- */

/* The next record; a script longer than SEEN_MAX reuses the last one (the
 * tests check how many they got). */
static seen *next_seen(rig *r)
{
    if (r->nseen < SEEN_MAX)
        return &r->seen[r->nseen++];
    seen *s = &r->seen[SEEN_MAX - 1];
    json_decref(s->reply);
    memset(s, 0, sizeof *s);
    return s;
}

static int connect_with(rig *r, sl__rpc_client *c, const char *token)
{
    uint8_t key[SL__SEAL_KEYBYTES];
    char err[512];
    sl__seal_token_key(token, strlen(token), key);
    seen *s = next_seen(r);
    s->rc = sl__rpc_connect(c, r->hostport, key, CALL_MS, err, sizeof err);
    snprintf(s->err, sizeof s->err, "%s", s->rc ? err : "");
    return s->rc;
}

static void call(rig *r, sl__rpc_client *c, const char *command)
{
    seen *s = next_seen(r);
    json_t *req = json_pack("{s:s}", "command", command);
    s->rc = sl__rpc_call(c, req, &s->reply, CALL_MS, s->err, sizeof s->err);
    s->err_no = errno;
    s->refused = c->refused;
    s->seq = c->seq;
    json_decref(req);
}

/* Waits for the next frame, or the end of the connection, briefly. */
static void read_next(rig *r, sl__rpc_client *c, int timeout_ms)
{
    seen *s = next_seen(r);
    s->rc = sl__rpc_read(c, &s->reply, timeout_ms, s->err, sizeof s->err);
    s->err_no = errno;
}

/* Sends a bare frame header declaring len bytes, and nothing after it. */
static void send_header(sl__rpc_client *c, size_t len)
{
    uint8_t hdr[4];
    sl__frame_header(hdr, len);
    (void)!send(c->fd, hdr, sizeof hdr, MSG_NOSIGNAL);
}

/* ---- what the test thread asserts about a reply ---- */

static json_t *object_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return v;
}

static json_int_t int_at(json_t *o, const char *key)
{
    json_t *v = object_at(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = object_at(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* A successful reply: no error, and the request's seq. */
static json_t *ok_reply(const seen *s)
{
    if (s->rc != 0)
        fail_msg("the call failed: %s", s->err);
    assert_non_null(s->reply);
    assert_null(json_object_get(s->reply, "error"));
    assert_int_equal(int_at(s->reply, "seq"), s->seq);
    return s->reply;
}

/* ---- members ---- */

static void members_script(rig *r)
{
    sl__rpc_client c;
    if (connect_with(r, &c, TOKEN) == 0) {
        c.seq = 41; /* the seq echoed must be this request's, not a count */
        call(r, &c, "members");
        call(r, &c, "members");
    }
    sl__rpc_close(&c);
}

static void assert_self(json_t *m)
{
    assert_string_equal(str_at(m, "name"), AGENT_NAME);
    assert_string_equal(str_at(m, "status"), "alive");
    assert_string_equal(str_at(m, "addr"), "127.0.0.1:7946");
    assert_true(json_is_true(object_at(m, "self")));
    assert_int_equal(int_at(object_at(m, "incarnation"), "gen"), 7);
}

static void members_lists_the_agent_alive(void **state)
{
    rig *r = *state;
    run(r, members_script);
    assert_int_equal(r->nseen, 3);
    assert_int_equal(r->seen[0].rc, 0);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(r->seen[i].seq, 41 + i);
        json_t *members = object_at(ok_reply(&r->seen[i]), "members");
        assert_true(json_is_array(members));
        assert_int_equal(json_array_size(members), 1);
        assert_self(json_array_get(members, 0));
    }
    assert_int_equal(r->a->ctr.rpc_requests, 2);
    assert_int_equal(r->a->ctr.rpc_errors, 0);
}

static void members_with_a_peer(void **state)
{
    rig *r = *state;
    add_peer(r->a);
    run(r, members_script);
    json_t *members = object_at(ok_reply(&r->seen[1]), "members");
    assert_int_equal(json_array_size(members), 2);
    /* Sorted by name: "rpc-agent" before "rpc-peer". */
    assert_self(json_array_get(members, 0));
    json_t *peer = json_array_get(members, 1);
    assert_string_equal(str_at(peer, "name"), PEER_NAME);
    assert_string_equal(str_at(peer, "status"), "alive");
    assert_string_equal(str_at(peer, "addr"), "127.0.0.2:7946");
    assert_true(json_is_false(object_at(peer, "self")));
}

/* ---- info ---- */

static void info_script(rig *r)
{
    sl__rpc_client c;
    if (connect_with(r, &c, TOKEN) == 0) {
        c.seq = 6;
        call(r, &c, "info");
    }
    sl__rpc_close(&c);
}

static void info_names_the_agent_and_counts(void **state)
{
    rig *r = *state;
    add_peer(r->a);
    run(r, info_script);
    assert_int_equal(r->nseen, 2);
    json_t *info = ok_reply(&r->seen[1]);
    assert_string_equal(str_at(info, "name"), AGENT_NAME);
    assert_string_equal(str_at(info, "rpc"), r->hostport);
    assert_int_equal(int_at(info, "generation"), 7);
    json_t *counts = object_at(info, "members");
    assert_int_equal(int_at(counts, "alive"), 2);
    assert_int_equal(int_at(counts, "suspect"), 0);
    assert_int_equal(int_at(counts, "dead"), 0);
    assert_int_equal(int_at(counts, "left"), 0);
    assert_int_equal(int_at(counts, "total"), 2);
    /* The connection asking is the one the agent serves. */
    json_t *clients = object_at(info, "rpc_clients");
    assert_int_equal(int_at(clients, "connections"), 1);
    assert_int_equal(int_at(clients, "unauthenticated"), 0);
    /* Where the token came from, never the token. */
    assert_string_equal(str_at(info, "rpc_token"), "flag");
    char *text = json_dumps(info, 0);
    assert_non_null(text);
    assert_null(strstr(text, TOKEN));
    free(text);
}

/* ---- errors ---- */

static void unknown_script(rig *r)
{
    sl__rpc_client c;
    if (connect_with(r, &c, TOKEN) == 0) {
        c.seq = 99;
        call(r, &c, "no-such-command");
        call(r, &c, "members");
    }
    sl__rpc_close(&c);
}

static void unknown_command_gets_an_error_and_the_connection_stays(void **state)
{
    rig *r = *state;
    run(r, unknown_script);
    assert_int_equal(r->nseen, 3);
    const seen *s = &r->seen[1];
    if (s->rc != 0)
        fail_msg("the call failed: %s", s->err);
    /* Exactly {"seq", "error"}. */
    assert_int_equal(json_object_size(s->reply), 2);
    assert_int_equal(int_at(s->reply, "seq"), 100);
    assert_string_equal(str_at(s->reply, "error"), "unknown command 'no-such-command'");
    /* The same connection answers the next request. */
    assert_int_equal(r->seen[2].seq, 101);
    json_t *members = object_at(ok_reply(&r->seen[2]), "members");
    assert_int_equal(json_array_size(members), 1);
    assert_int_equal(r->a->ctr.rpc_requests, 2);
    assert_int_equal(r->a->ctr.rpc_errors, 1);
}

/* ---- the token ---- */

static void wrong_token_script(rig *r)
{
    sl__rpc_client c;
    /* The handshake is plain: it succeeds without the token. */
    if (connect_with(r, &c, WRONG_TOKEN) == 0) {
        call(r, &c, "members");
        read_next(r, &c, CALL_MS); /* then the agent closes */
    }
    sl__rpc_close(&c);
    /* A client with the token is still served, and sees the count. */
    if (connect_with(r, &c, TOKEN) == 0)
        call(r, &c, "info");
    sl__rpc_close(&c);
}

static void wrong_token_is_refused_and_counted(void **state)
{
    rig *r = *state;
    run(r, wrong_token_script);
    assert_int_equal(r->nseen, 5);
    assert_int_equal(r->seen[0].rc, 0);
    const seen *s = &r->seen[1];
    assert_int_equal(s->rc, -1);
    /* c->refused is set only for a plain "SLRPC1!" frame (rpc_client.c). */
    assert_true(s->refused);
    assert_int_equal(s->err_no, EACCES);
    assert_null(s->reply);
    char want[600];
    snprintf(want, sizeof want, "the agent at %s refused the RPC token: wrong or missing RPC token",
             r->hostport);
    assert_string_equal(s->err, want);
    assert_int_equal(r->seen[2].rc, 1); /* closed */
    assert_int_equal(r->a->ctr.rpc_auth_failures, 1);
    assert_int_equal(r->a->ctr.rpc_requests, 1); /* the refused request ran nothing */
    json_t *info = ok_reply(&r->seen[4]);
    json_t *agent = object_at(object_at(info, "counters"), "agent");
    assert_int_equal(int_at(agent, "rpc_auth_failures"), 1);
}

/* ---- the request bound ---- */

static void oversized_script(rig *r)
{
    sl__rpc_client c;
    size_t at_max = SL__RPC_REQUEST_MAX + SL__SEAL_ABYTES; /* a sealed request of the bound */
    /* 1-2: authenticated, then a frame one byte over the bound: closed
     * without a reply. */
    if (connect_with(r, &c, TOKEN) == 0) {
        call(r, &c, "members");
        send_header(&c, at_max + 1);
        read_next(r, &c, CALL_MS);
    }
    sl__rpc_close(&c);
    /* 3-4: a frame of the bound is taken: the agent waits for its bytes. */
    if (connect_with(r, &c, TOKEN) == 0) {
        call(r, &c, "members");
        send_header(&c, at_max);
        read_next(r, &c, 300);
    }
    sl__rpc_close(&c);
    /* 5-6: a first request over the bound is refused, with the reason. */
    if (connect_with(r, &c, TOKEN) == 0) {
        send_header(&c, at_max + 1);
        read_next(r, &c, CALL_MS);
        seen *s = &r->seen[r->nseen - 1];
        s->refused = c.refused;
    }
    sl__rpc_close(&c);
    /* 7: the server still serves the next client. */
    if (connect_with(r, &c, TOKEN) == 0)
        call(r, &c, "members");
    sl__rpc_close(&c);
}

static void oversized_request_closes_only_its_connection(void **state)
{
    rig *r = *state;
    run(r, oversized_script);
    assert_int_equal(r->nseen, 10);
    ok_reply(&r->seen[1]);
    assert_int_equal(r->seen[2].rc, 1); /* closed, nothing sent */
    assert_null(r->seen[2].reply);

    ok_reply(&r->seen[4]);
    assert_int_equal(r->seen[5].rc, -1); /* still open, waiting */
    assert_int_equal(r->seen[5].err_no, ETIMEDOUT);

    const seen *s = &r->seen[7];
    assert_int_equal(s->rc, -1);
    assert_true(s->refused);
    assert_non_null(strstr(s->err, "refused the RPC token: the first request is too large"));

    json_t *members = object_at(ok_reply(&r->seen[9]), "members");
    assert_int_equal(json_array_size(members), 1);
    assert_self(json_array_get(members, 0));
    /* Only the unauthenticated one counts as a failure to authenticate. */
    assert_int_equal(r->a->ctr.rpc_auth_failures, 1);
}

int main(void)
{
    /* A client that goes away mid-write must cost an error code, as in the
     * agent (sl__agent_run). */
    signal(SIGPIPE, SIG_IGN);
    sl__log_set_level(SL__LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(members_lists_the_agent_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(members_with_a_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(info_names_the_agent_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_command_gets_an_error_and_the_connection_stays,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_token_is_refused_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_request_closes_only_its_connection, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
