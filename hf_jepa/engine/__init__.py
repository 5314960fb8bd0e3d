"""Training machinery that knows no method: `SSLTrainer` / `SSLTrainingArguments` (`engine.trainer`,
`engine.arguments`), the per-step schedules, the LARS optimizer of `--optim lars` (`engine.lars`), and the on-device
training views and augmentations (`engine.views`, `engine.augment`). Import the submodules directly: importing this
package loads none of them (the Trainer is heavy)."""
