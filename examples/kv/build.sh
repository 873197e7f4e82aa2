#!/bin/sh
# build.sh -- builds the kv example out of tree against an installed netcore.
cc -O2 -Wall -Wextra -shared -fPIC $(pkg-config --cflags netcore) -o kv.so kv.c
