/* queue.h -- the core's intrusive doubly linked list: a circular list with
 * a sentinel head, O(1) insert and remove, nodes embedded in what they
 * link (libuv's queue.h and Linux's list.h are the model).  A node that is
 * on no list points at itself, so removing it twice is harmless and
 * "is it linked" is one comparison. */
#ifndef NC_CORE_QUEUE_H
#define NC_CORE_QUEUE_H

#include <stddef.h>

typedef struct nc__queue {
    struct nc__queue *prev, *next;
} nc__queue;

/* The struct of type T whose member `field` is the node n. */
#define NC__Q_DATA(n, T, field) ((T *)(void *)((char *)(n) - offsetof(T, field)))

/* A head, or a node before its first use: empty, linked to itself. */
static inline void nc__q_init(nc__queue *q)
{
    q->prev = q->next = q;
}

static inline int nc__q_empty(const nc__queue *head)
{
    return head->next == head;
}

/* Whether a node (initialised with nc__q_init) is on a list. */
static inline int nc__q_linked(const nc__queue *n)
{
    return n->next != n;
}

/* The first and last nodes; NULL when the list is empty. */
static inline nc__queue *nc__q_first(const nc__queue *head)
{
    return head->next == head ? NULL : head->next;
}

static inline nc__queue *nc__q_last(const nc__queue *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* The node after n, NULL at the end. */
static inline nc__queue *nc__q_next(const nc__queue *head, const nc__queue *n)
{
    return n->next == head ? NULL : n->next;
}

static inline void nc__q_push_tail(nc__queue *head, nc__queue *n)
{
    n->next = head;
    n->prev = head->prev;
    head->prev->next = n;
    head->prev = n;
}

/* Unlink n (a no-op when it is on no list) and leave it self-linked. */
static inline void nc__q_remove(nc__queue *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Move every node of `from` to the end of `to`; `from` is left empty. */
static inline void nc__q_append_all(nc__queue *to, nc__queue *from)
{
    if (nc__q_empty(from))
        return;
    /* The analyzer cannot see that every head and node went through
     * nc__q_init first, so it supposes a NULL link here. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): lists are circular, never NULL-linked
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    nc__q_init(from);
}

#endif /* NC_CORE_QUEUE_H */
