/*
 * Vector table, reset handler and fault handlers for the Cortex-M3 of the
 * MPS2 AN385.
 */
#include <stdint.h>

#include "uart.h"

/* Symbols provided by mps2_an385.ld. */
extern uint32_t __stack_top;
extern uint32_t __data_load;
extern uint32_t __data_start;
extern uint32_t __data_end;
extern uint32_t __bss_start;
extern uint32_t __bss_end;

int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void UART0_RX_IRQHandler(void);

/* System Control Block fault status registers, printed on a HardFault. */
#define SCB_CFSR  (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR  (*(volatile uint32_t *)0xE000ED2Cu)

/* 16 core exceptions followed by the external interrupts. Only UART0 RX
 * (IRQ 0) is used; the rest of the AN385's IRQs are never enabled, but get a
 * handler anyway so a stray one is reported instead of jumping to 0. */
#define NUM_IRQS 32

__attribute__((section(".vectors"), used))
static void (*const vector_table[16 + NUM_IRQS])(void) = {
    [0]  = (void (*)(void))&__stack_top,  /* initial MSP, not a handler */
    [1]  = Reset_Handler,
    [2]  = Default_Handler,               /* NMI */
    [3]  = HardFault_Handler,
    [4]  = Default_Handler,               /* MemManage */
    [5]  = Default_Handler,               /* BusFault */
    [6]  = Default_Handler,               /* UsageFault */
    [11] = Default_Handler,               /* SVCall */
    [12] = Default_Handler,               /* DebugMonitor */
    [14] = Default_Handler,               /* PendSV */
    [15] = Default_Handler,               /* SysTick */
    [16] = UART0_RX_IRQHandler,           /* IRQ 0: UART0 RX */
    [17 ... 16 + NUM_IRQS - 1] = Default_Handler,
};

void Reset_Handler(void)
{
    /* The loops are written out by hand: there is no libc, and the build
     * uses -fno-tree-loop-distribute-patterns so GCC does not turn them
     * into memcpy/memset calls. */
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }

    main();

    /* main() never returns; park the core if it ever does. */
    for (;;) {
        __asm volatile("wfi");
    }
}

static __attribute__((noreturn)) void halt(void)
{
    /* Stop taking UART interrupts and sleep forever. From here on the
     * firmware no longer answers on the console, which is what the fault
     * scenario demonstrates. */
    uart_disable_rx_irq();
    for (;;) {
        __asm volatile("wfi");
    }
}

/* Called from HardFault_Handler with a pointer to the stacked exception
 * frame (r0-r3, r12, lr, pc, xpsr). */
/* Not static: it is only referenced from the inline assembly below, and a
 * static function could be renamed or dropped by the optimiser. */
void hardfault_report(const uint32_t *frame) __attribute__((used, noreturn));

void hardfault_report(const uint32_t *frame)
{
    /* Start on a fresh line: the fault may hit in the middle of output
     * (or right after the "> " prompt). */
    uart_puts("\r\nHARDFAULT pc=");
    uart_put_hex32(frame[6]);
    uart_puts(" lr=");
    uart_put_hex32(frame[5]);
    uart_puts(" cfsr=");
    uart_put_hex32(SCB_CFSR);
    uart_puts(" hfsr=");
    uart_put_hex32(SCB_HFSR);
    uart_puts("\r\n");
    halt();
}

/* Naked so that no prologue touches the stack before we have worked out
 * which stack (MSP or PSP, bit 2 of EXC_RETURN) holds the exception frame. */
__attribute__((naked))
void HardFault_Handler(void)
{
    __asm volatile(
        "tst   lr, #4           \n"
        "ite   eq               \n"
        "mrseq r0, msp          \n"
        "mrsne r0, psp          \n"
        "b     hardfault_report \n");
}

void Default_Handler(void)
{
    uint32_t ipsr;

    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    uart_puts("\r\nUNEXPECTED EXCEPTION ");
    uart_put_i32((int32_t)(ipsr & 0x1FFu));
    uart_puts("\r\n");
    halt();
}
