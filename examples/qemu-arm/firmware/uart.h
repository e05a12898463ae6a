/* Polled/interrupt-woken driver for the CMSDK APB UART0 of the MPS2 AN385. */
#ifndef UART_H
#define UART_H

#include <stdint.h>

void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);
void uart_put_i32(int32_t v);
void uart_put_hex32(uint32_t v);
/* Blocks (sleeping in WFI) until a byte has been received. */
char uart_getc(void);
/* Used by the fault handlers: stop taking RX interrupts. */
void uart_disable_rx_irq(void);

#endif
