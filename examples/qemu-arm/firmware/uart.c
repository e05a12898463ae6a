/*
 * Driver for UART0 of the MPS2 AN385 (ARM CMSDK APB UART) at 0x40004000.
 *
 * Transmission is polled. Reception is polled too, but the core sleeps in
 * WFI while nothing has arrived: QEMU runs a guest busy-loop at full speed,
 * so a spinning console would burn a whole host core for as long as the DUT
 * stays booted (TestArena keeps it up for a whole queue). The RX interrupt
 * is only used as a wake-up source; the data register is read from thread
 * mode, which keeps QEMU's natural flow control (it does not hand the UART a
 * new byte until the previous one has been read) and needs no ring buffer.
 */
#include "uart.h"

#define UART0_BASE      0x40004000u
#define UART_DATA       (*(volatile uint32_t *)(UART0_BASE + 0x00))
#define UART_STATE      (*(volatile uint32_t *)(UART0_BASE + 0x04))
#define UART_CTRL       (*(volatile uint32_t *)(UART0_BASE + 0x08))
#define UART_INTSTATUS  (*(volatile uint32_t *)(UART0_BASE + 0x0C))
#define UART_BAUDDIV    (*(volatile uint32_t *)(UART0_BASE + 0x10))

#define STATE_TX_FULL   (1u << 0)
#define STATE_RX_FULL   (1u << 1)
#define CTRL_TX_EN      (1u << 0)
#define CTRL_RX_EN      (1u << 1)
#define CTRL_RX_IRQ_EN  (1u << 3)
#define INT_RX          (1u << 1)

/* On the AN385, UART0's RX interrupt is external IRQ 0 (TX is IRQ 1). */
#define UART0_RX_IRQN   0u
#define NVIC_ISER0      (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ICER0      (*(volatile uint32_t *)0xE000E180u)

void uart_init(void)
{
    /* 25 MHz / 115200 baud. QEMU ignores the rate, but the CMSDK UART
     * requires BAUDDIV >= 16 and QEMU logs a guest error otherwise. */
    UART_BAUDDIV = 217;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_IRQ_EN;
    NVIC_ISER0 = 1u << UART0_RX_IRQN;
}

void uart_disable_rx_irq(void)
{
    NVIC_ICER0 = 1u << UART0_RX_IRQN;
}

/* RX interrupt: only acknowledge it (see the comment at the top). The level
 * of the IRQ line follows INTSTATUS, so it must be cleared here or the
 * interrupt would fire again immediately. */
void UART0_RX_IRQHandler(void)
{
    UART_INTSTATUS = INT_RX;
}

void uart_putc(char c)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s) {
        uart_putc(*s++);
    }
}

void uart_put_i32(int32_t v)
{
    char buf[12];
    int i = 0;
    /* Negate in unsigned arithmetic so INT32_MIN does not overflow. */
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;

    do {
        buf[i++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        buf[i++] = '-';
    }
    while (i > 0) {
        uart_putc(buf[--i]);
    }
}

void uart_put_hex32(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";

    uart_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        uart_putc(digits[(v >> shift) & 0xFu]);
    }
}

char uart_getc(void)
{
    while (!(UART_STATE & STATE_RX_FULL)) {
        /* Check-then-sleep with interrupts masked: a byte arriving between
         * the check and the WFI leaves the IRQ pending, and a pending IRQ
         * wakes WFI even while PRIMASK masks it, so no wake-up is lost. The
         * handler then runs as soon as interrupts are unmasked again. */
        __asm volatile("cpsid i" ::: "memory");
        if (!(UART_STATE & STATE_RX_FULL)) {
            __asm volatile("wfi" ::: "memory");
        }
        __asm volatile("cpsie i" ::: "memory");
    }
    return (char)(UART_DATA & 0xFFu);
}
