/*
 * TestArena demo firmware: a line-based command console on UART0.
 *
 * Protocol (see README.md for the full description):
 *   - A command is one line terminated by CR, LF or CRLF. Input is not
 *     echoed back, so the output only contains responses.
 *   - Every command produces exactly one response line ending in "\r\n",
 *     followed by the prompt "> " (without a newline). An empty line only
 *     produces a new prompt.
 *   - Errors are reported as a single line starting with "ERR ".
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uart.h"

#define FW_VERSION "1.0.0"

/* Longest accepted command line, excluding the terminator. */
#define LINE_MAX 128

#define PROMPT "> "

/* ---- small string helpers (there is no libc) ---------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_spaces(const char *s)
{
    while (is_space(*s)) {
        s++;
    }
    return s;
}

/* True if the first `len` characters of `word` equal the NUL-terminated
 * string `name` (and `name` has exactly that length). */
static bool word_equals(const char *word, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len; i++) {
        if (name[i] != word[i]) {
            return false;
        }
    }
    return name[i] == '\0';
}

/* Parses a signed 32-bit decimal number at *s, advancing *s past it. The
 * number must be followed by whitespace or the end of the line. */
static bool parse_i32(const char **s, int32_t *out)
{
    const char *p = *s;
    bool negative = false;
    /* Accumulate the magnitude unsigned: |INT32_MIN| does not fit in an
     * int32_t, and unsigned overflow is well defined to check against. */
    uint32_t magnitude = 0;
    const uint32_t limit_pos = (uint32_t)INT32_MAX;
    const uint32_t limit_neg = (uint32_t)INT32_MAX + 1u;

    if (*p == '+' || *p == '-') {
        negative = (*p == '-');
        p++;
    }
    if (*p < '0' || *p > '9') {
        return false;
    }
    while (*p >= '0' && *p <= '9') {
        uint32_t digit = (uint32_t)(*p - '0');
        uint32_t limit = negative ? limit_neg : limit_pos;
        if (magnitude > (limit - digit) / 10u) {
            return false;
        }
        magnitude = magnitude * 10u + digit;
        p++;
    }
    if (*p != '\0' && !is_space(*p)) {
        return false;
    }

    *out = negative ? (int32_t)(0u - magnitude) : (int32_t)magnitude;
    *s = p;
    return true;
}

/* ---- commands ------------------------------------------------------------ */

static void reply(const char *s)
{
    uart_puts(s);
    uart_puts("\r\n");
}

static void cmd_help(const char *args);

static void cmd_ping(const char *args)
{
    (void)args;
    reply("pong");
}

static void cmd_version(const char *args)
{
    (void)args;
    reply("fw " FW_VERSION);
}

static void cmd_echo(const char *args)
{
    reply(args);
}

/* Parses exactly two integer operands for add/mul. */
static bool parse_operands(const char *args, int32_t *a, int32_t *b)
{
    const char *p = args;

    if (!parse_i32(&p, a)) {
        return false;
    }
    p = skip_spaces(p);
    if (!parse_i32(&p, b)) {
        return false;
    }
    return *skip_spaces(p) == '\0';
}

static void cmd_add(const char *args)
{
    int32_t a, b, result;

    if (!parse_operands(args, &a, &b)) {
        reply("ERR usage: add A B (32-bit signed integers)");
        return;
    }
    if (__builtin_add_overflow(a, b, &result)) {
        reply("ERR overflow");
        return;
    }
    uart_put_i32(result);
    uart_puts("\r\n");
}

static void cmd_mul(const char *args)
{
    int32_t a, b, result;

    if (!parse_operands(args, &a, &b)) {
        reply("ERR usage: mul A B (32-bit signed integers)");
        return;
    }
    if (__builtin_mul_overflow(a, b, &result)) {
        reply("ERR overflow");
        return;
    }
    uart_put_i32(result);
    uart_puts("\r\n");
}

static void cmd_fault(const char *args)
{
    (void)args;
    /* A permanently undefined instruction raises a UsageFault. Configurable
     * faults are disabled after reset (SHCSR), so it escalates to a
     * HardFault, whose handler reports it and halts the firmware. */
    __asm volatile("udf #0");
    __builtin_unreachable();
}

struct command {
    const char *name;
    const char *usage;  /* arguments, for help */
    void (*handler)(const char *args);
    const char *help;
};

static const struct command commands[] = {
    {"help",    "",     cmd_help,    "list commands"},
    {"ping",    "",     cmd_ping,    "reply pong"},
    {"version", "",     cmd_version, "print the firmware version"},
    {"add",     " A B", cmd_add,     "print A+B"},
    {"mul",     " A B", cmd_mul,     "print A*B"},
    {"echo",    " TEXT", cmd_echo,   "print TEXT"},
    {"fault",   "",     cmd_fault,   "trigger a HardFault (the firmware halts)"},
};

#define NUM_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The only command answering with more than one line; tests should not rely
 * on its exact output. */
static void cmd_help(const char *args)
{
    (void)args;
    for (size_t i = 0; i < NUM_COMMANDS; i++) {
        uart_puts(commands[i].name);
        uart_puts(commands[i].usage);
        uart_puts(" - ");
        reply(commands[i].help);
    }
}

static void execute(const char *line)
{
    const char *name = skip_spaces(line);
    const char *end = name;

    while (*end != '\0' && !is_space(*end)) {
        end++;
    }
    if (end == name) {
        return; /* empty line: just print a new prompt */
    }

    for (size_t i = 0; i < NUM_COMMANDS; i++) {
        if (word_equals(name, (size_t)(end - name), commands[i].name)) {
            commands[i].handler(skip_spaces(end));
            return;
        }
    }
    reply("ERR unknown command");
}

/* ---- line input ---------------------------------------------------------- */

/* Reads one line into buf (NUL-terminated, without the terminator).
 * Returns false if the line was longer than LINE_MAX; the rest of it is
 * then discarded so the next line starts cleanly. */
static bool read_line(char *buf)
{
    /* Remembered across calls so that the LF of a CRLF pair is not taken
     * for a second, empty line (which would print a stray prompt). */
    static bool last_was_cr = false;
    size_t len = 0;
    bool overflow = false;

    for (;;) {
        char c = uart_getc();

        if (c == '\n' && last_was_cr) {
            last_was_cr = false;
            continue;
        }
        last_was_cr = (c == '\r');
        if (c == '\r' || c == '\n') {
            break;
        }
        if (len < LINE_MAX) {
            buf[len++] = c;
        } else {
            overflow = true;
        }
    }
    buf[len] = '\0';
    return !overflow;
}

int main(void)
{
    static char line[LINE_MAX + 1];

    uart_init();
    /* Note: QEMU drops UART output while no client is connected to the
     * serial socket, so a host script usually never sees this banner and
     * has to synchronise by sending a command instead. */
    uart_puts("\r\nTestArena qemu-arm demo fw " FW_VERSION " READY\r\n" PROMPT);

    for (;;) {
        if (read_line(line)) {
            execute(line);
        } else {
            reply("ERR line too long");
        }
        uart_puts(PROMPT);
    }
}
