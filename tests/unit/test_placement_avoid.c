/* Placement with avoided members: a service never lands on a member that
 * gave it up, other services are not affected, unknown names change
 * nothing, and the answer does not depend on the order of the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/placement.h"

enum { M = 10, R = 3 };

static char names[M][16];
static sl_placement_member members[M];

static void setup_members(void)
{
    for (int i = 0; i < M; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i);
        members[i] = (sl_placement_member){.name = names[i]};
    }
}

static sl_placement *place(const char *const *avoid, uint32_t navoid, uint32_t replicas)
{
    sl_placement_service s[2] = {
        {.name = "web", .replicas = replicas, .avoid = avoid, .navoid = navoid},
        {.name = "db", .replicas = 2},
    };
    /* Plain rendezvous, so that no load bound cascades: what moves is what
     * the avoided member held, and nothing else. */
    sl_placement_options o;
    sl_placement_options_init(&o);
    o.unbounded = true;
    sl_placement *p = NULL;
    assert_int_equal(sl_placement_compute(members, M, s, 2, &o, &p), 0);
    return p;
}

static void an_avoided_member_gets_none_of_that_service(void **state)
{
    (void)state;
    setup_members();
    sl_placement *before = place(NULL, 0, R);
    int32_t x = sl_placement_node(before, 0, 0);
    assert_true(x >= 0);
    const char *avoid[] = {"nobody", names[x], names[x]}; /* unknown and twice: fine */
    sl_placement *after = place(avoid, 3, R);
    int moved = 0;
    for (uint32_t r = 0; r < R; r++) {
        assert_true(sl_placement_node(after, 0, r) >= 0);
        assert_int_not_equal(sl_placement_node(after, 0, r), x);
        moved += sl_placement_node(after, 0, r) != sl_placement_node(before, 0, r);
    }
    /* Replica 0 moves; a sibling it displaces may too (distinct members),
     * as when a member leaves; not more here. */
    assert_true(moved >= 1 && moved <= 2);
    /* Another service may still use x: the pair is (service, member). */
    for (uint32_t r = 0; r < 2; r++)
        assert_int_equal(sl_placement_node(after, 1, r), sl_placement_node(before, 1, r));
    /* Only unknown names: as without the list. */
    const char *unknown[] = {"nobody"};
    sl_placement *same = place(unknown, 1, R);
    for (uint32_t r = 0; r < R; r++)
        assert_int_equal(sl_placement_node(same, 0, r), sl_placement_node(before, 0, r));
    sl_placement_free(before);
    sl_placement_free(after);
    sl_placement_free(same);
}

static void the_order_of_the_list_does_not_matter(void **state)
{
    (void)state;
    setup_members();
    const char *a[] = {names[1], names[4], names[7]}, *b[] = {names[7], names[1], names[4]};
    sl_placement *p = place(a, 3, 5), *q = place(b, 3, 5);
    for (uint32_t r = 0; r < 5; r++) {
        int32_t n = sl_placement_node(p, 0, r);
        assert_int_equal(n, sl_placement_node(q, 0, r));
        assert_true(n != 1 && n != 4 && n != 7);
    }
    sl_placement_free(p);
    sl_placement_free(q);
}

/* An avoided member is a last resort: with every member avoided, the
 * service is placed as without the list; with all but one avoided, one
 * replica goes to the one left and the others fall back. */
static void avoided_members_are_a_last_resort(void **state)
{
    (void)state;
    setup_members();
    const char *all[M];
    for (int i = 0; i < M; i++)
        all[i] = names[i];
    sl_placement *none = place(NULL, 0, 2), *p = place(all, M, 2);
    for (uint32_t r = 0; r < 2; r++)
        assert_int_equal(sl_placement_node(p, 0, r), sl_placement_node(none, 0, r));
    assert_int_equal(sl_placement_unplaced(p), 0);
    sl_placement_free(p);
    p = place(all + 1, M - 1, 3); /* only n0 is not avoided */
    int on_n0 = 0;
    for (uint32_t r = 0; r < 3; r++) {
        assert_true(sl_placement_node(p, 0, r) >= 0);
        on_n0 += sl_placement_node(p, 0, r) == 0;
    }
    assert_int_equal(on_n0, 1);
    sl_placement_free(p);
    sl_placement_free(none);
    /* A NULL list with a count, or a NULL name, is refused. */
    sl_placement_service bad = {.name = "web", .replicas = 1, .navoid = 1};
    sl_placement *out = NULL;
    assert_int_equal(sl_placement_compute(members, M, &bad, 1, NULL, &out), SL_EINVAL);
    const char *holes[] = {NULL};
    bad.avoid = holes;
    assert_int_equal(sl_placement_compute(members, M, &bad, 1, NULL, &out), SL_EINVAL);
    assert_null(out);
}

/* Past its candidate list. A service that avoids every member of a zone
 * but one, in a cluster far larger than a candidate list, reaches that one
 * only by scanning the zone: the scan too must skip the avoided members
 * (bounded placement, as agents run it; each spared member in turn). */
static void a_zone_scan_skips_avoided_members(void **state)
{
    (void)state;
    enum { BIG = 300, ZONES = 3, SPARED = 12 };
    static char bnames[BIG][16];
    static sl_placement_member big[BIG];
    static const char *avoid[BIG];
    static const char *zones[ZONES] = {"z0", "z1", "z2"};
    for (int i = 0; i < BIG; i++) {
        snprintf(bnames[i], sizeof bnames[i], "m%03d", i);
        big[i] = (sl_placement_member){.name = bnames[i], .zone = zones[i % ZONES]};
    }
    for (int spared = 0; spared < SPARED * ZONES; spared += ZONES) { /* members of z0 */
        uint32_t navoid = 0;
        for (int i = 0; i < BIG; i += ZONES)
            if (i != spared)
                avoid[navoid++] = bnames[i];
        sl_placement_service s = {.name = "web", .replicas = 3, .avoid = avoid, .navoid = navoid};
        sl_placement *p = NULL;
        assert_int_equal(sl_placement_compute(big, BIG, &s, 1, NULL, &p), 0);
        bool in_z0 = false;
        for (uint32_t r = 0; r < 3; r++) {
            int32_t n = sl_placement_node(p, 0, r);
            assert_true(n >= 0);
            /* members are in name order: index n is m<n> */
            assert_true(n % ZONES != 0 || n == spared);
            in_z0 |= n == spared;
        }
        assert_true(in_z0); /* zone spread: z0's replica is on the one left */
        sl_placement_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_avoided_member_gets_none_of_that_service),
        cmocka_unit_test(the_order_of_the_list_does_not_matter),
        cmocka_unit_test(avoided_members_are_a_last_resort),
        cmocka_unit_test(a_zone_scan_skips_avoided_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
