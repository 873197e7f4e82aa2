/* list.h -- the one intrusive doubly linked list of the core and the
 * modules: circular with a sentinel head, O(1) insert and remove, nodes
 * embedded in what they link (libuv's queue.h and Linux's list.h are the
 * model); header-only, so using it changes no ABI.  A node on no list
 * points at itself (after nc_list_init), so removing it twice is harmless
 * and "is it linked" is one comparison. */
#ifndef NETCORE_LIST_H
#define NETCORE_LIST_H

#include <stddef.h>

/* ---- Intrusive lists ---------------------------------------------------- */

typedef struct nc_list {
    struct nc_list *prev, *next;
} nc_list;

/* The struct of type T whose member `field` is the node n. */
#define NC_LIST_DATA(n, T, field) ((T *)(void *)((char *)(n) - offsetof(T, field)))

/* A head, or a node before its first use: empty, linked to itself. */
static inline void nc_list_init(nc_list *q)
{
    q->prev = q->next = q;
}

static inline int nc_list_empty(const nc_list *head)
{
    return head->next == head;
}

/* Whether a node (initialised with nc_list_init) is on a list. */
static inline int nc_list_linked(const nc_list *n)
{
    return n->next != n;
}

/* The first and last nodes; NULL when the list is empty. */
static inline nc_list *nc_list_first(const nc_list *head)
{
    return head->next == head ? NULL : head->next;
}

static inline nc_list *nc_list_last(const nc_list *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* The node after n, NULL at the end. */
static inline nc_list *nc_list_next(const nc_list *head, const nc_list *n)
{
    return n->next == head ? NULL : n->next;
}

static inline void nc_list_push_tail(nc_list *head, nc_list *n)
{
    n->next = head;
    n->prev = head->prev;
    head->prev->next = n;
    head->prev = n;
}

/* Unlink n (a no-op when it is on no list) and leave it self-linked. */
static inline void nc_list_remove(nc_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Move every node of `from` to the end of `to`; `from` is left empty. */
static inline void nc_list_append_all(nc_list *to, nc_list *from)
{
    if (nc_list_empty(from))
        return;
    /* The analyzer cannot see that every head and node went through
     * nc_list_init first, so it supposes a NULL link here. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): lists are circular, never NULL-linked
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    nc_list_init(from);
}

#endif /* NETCORE_LIST_H */
