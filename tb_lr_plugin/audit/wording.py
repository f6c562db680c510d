"""The findings' sentences, apart from the rules that detect them.

Each function takes what a rule found and returns its one-sentence
`message`; numbers are written by `formatting`, as the CLI and the tab
write them. Rules whose sentence is one line keep it beside the check.
"""

from tb_lr_plugin import formatting as fmt
from tb_lr_plugin.audit.finding import epoch_word


def _optimizer(name):
    return f" of optimizer {name}" if name else ""


def plan_overridden(step, optimizer, lr, override):
    """`plan_deviation`: an event set the LR, and something else won."""
    return (
        f"From step {step} the LR{_optimizer(optimizer)} was {fmt.lr(lr)}, not what "
        f"{override} set: something overrode it (a LearningRateScheduler or a "
        f"callback assigning the LR?)."
    )


def plan_left(step, optimizer, actual, planned, expected, bad, total):
    """`plan_deviation`: the actual LR left the plan with no event."""
    ratio = f"x{actual / planned:.4g}" if planned else "nonzero"
    return (
        f"From step {step} the actual LR{_optimizer(optimizer)} ({fmt.lr(actual)}) left the "
        f"plan ({fmt.lr(planned)}; {ratio} where x{expected:.4g} was expected) on "
        f"{bad} of {total} steps, and no event explains it."
    )


def scheduler_won(label, undone, reductions, epochs):
    """`scheduler_conflict`: the scheduler undid plateau reductions."""
    shown = ", ".join(epoch_word(e) for e in epochs[:3]) + (", ..." if len(epochs) > 3 else "")
    return (
        f"LearningRateScheduler won{label}: it undid {undone} of {reductions} "
        f"ReduceLROnPlateau reduction(s) ({shown}) at the next epoch start, so no update "
        f"used them; make the schedule build on the current LR (schedule(epoch, lr)) "
        f"or drop one of the two callbacks."
    )


def plateau_won(label, reductions, actual, planned):
    """`scheduler_conflict`: plateau reductions stay under the scheduler's plan."""
    return (
        f"ReduceLROnPlateau won{label}: its {reductions} reduction(s) stay in "
        f"effect and LearningRateScheduler builds on them, so the LR ends at "
        f"{fmt.lr(actual)}, {planned / actual:.3g}x below the scheduler's plan "
        f"({fmt.lr(planned)})."
    )


def min_lr_reached(reached, already, optimizer, ignored_epochs, ignored):
    """`min_lr_reached`: the LR hit `min_lr`, and what the plateaus did after."""
    where = epoch_word(reached.get("epoch"))
    floor = fmt.lr(reached.get("min_lr"))
    if already:
        lead = f"The LR ({fmt.lr(reached.get('lr'))}) was already at min_lr={floor} at {where}"
    else:
        lead = f"The LR reached min_lr={floor} at {where}"
    name = f" for optimizer {optimizer}" if optimizer else ""
    if not ignored:
        return lead + name + "; no plateau came after it."
    epochs = ignored_epochs
    span = (
        f" ({epoch_word(epochs[0])} to {epochs[-1] + 1})"
        if len(epochs) > 1
        else (f" ({epoch_word(epochs[0])})" if epochs else "")
    )
    return (
        f"{lead}{name}; ReduceLROnPlateau then ignored {ignored} plateau"
        f"{'s' if ignored != 1 else ''}{span} because it could go no lower."
    )
