"""kiln.callbacks: Keras' callbacks for Model.fit."""

import csv
import math
import os
import warnings
import sys
import time

import numpy as np


class Callback:
    """Hooks fit calls: on_train_begin/end, on_epoch_begin/end(epoch,
    logs), on_train_batch_begin/end(batch, logs). `self.model` is the model
    being trained."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    # (Keras 2's on_batch_begin / on_batch_end: what the training batch
    # hooks call unless a subclass overrides them)
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    # evaluate (and fit's validation) and predict
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"fit(callbacks=...) takes Callback objects, got {c!r}")
            c.set_model(model)

    @property
    def wants_batch_end(self):
        """Whether a callback listens to on_train_batch_end: per-batch logs
        cost a read of every metric. (A method of the class or a function
        set on the object, as LambdaCallback and ProgbarLogger do; asked
        each batch, as a callback may start or stop listening.)"""
        def overrides(c, name):
            hook = getattr(c, name)
            return getattr(hook, "__func__", hook) is not getattr(Callback, name)
        return any(overrides(c, "on_train_batch_end") or overrides(c, "on_batch_end")
                   for c in self.callbacks)

    def wants(self, hook):
        """Whether a callback overrides `hook` (its logs cost metric reads)."""
        def overrides(c):
            method = getattr(c, hook)
            return getattr(method, "__func__", method) is not getattr(Callback, hook)
        return any(overrides(c) for c in self.callbacks)

    def __getattr__(self, hook):
        def call(*args):
            for c in self.callbacks:
                getattr(c, hook)(*args)
        return call


class _Bar:
    """Keras' progress display: "Epoch 3/10" then
    "469/469 [======] - 2s 4ms/step - loss: 0.3012 - accuracy: 0.8912",
    redrawn in place on a terminal, one line per epoch elsewhere (and for
    verbose=2)."""

    def __init__(self, steps, verbose, stream=None):
        self.steps, self.verbose = steps, verbose
        self.stream = stream or sys.stdout
        self.dynamic = verbose == 1 and hasattr(self.stream, "isatty") and \
            self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.done = 0  # steps run so far (for a dataset of unknown length)

    @staticmethod
    def _format_logs(logs):
        show = lambda v: f"{v:.4f}" if np.ndim(v) == 0 else \
            "[" + " ".join(f"{x:.4f}" for x in np.ravel(v)) + "]"
        return "".join(f" - {k}: {show(v)}" for k, v in logs.items())

    def _line(self, step, logs, final):
        elapsed = time.perf_counter() - self.start
        if self.steps is None:  # (a dataset of unknown length: no bar yet)
            timing = f" - {elapsed:.0f}s {elapsed / max(step, 1) * 1e3:.0f}ms/step"
            return f"{step}/Unknown{timing}{self._format_logs(logs)}"
        width = 30
        done = int(width * step / max(self.steps, 1))
        bar = "=" * done if done == width else "=" * done + ">" + "." * (width - done - 1)
        digits = len(str(self.steps))
        per_step = elapsed / max(step, 1)
        timing = (f" - {elapsed:.0f}s {per_step * 1e3:.0f}ms/step" if final else
                  f" - ETA: {per_step * (self.steps - step):.0f}s")
        return f"{step:{digits}d}/{self.steps} [{bar}]{timing}{self._format_logs(logs)}"

    def update(self, step, logs):
        if self.dynamic and time.perf_counter() - self.last_draw > 0.1:
            self.last_draw = time.perf_counter()
            self.stream.write("\r" + self._line(step, logs, False))
            self.stream.flush()

    def finish(self, logs):
        if not self.verbose:
            return
        # (The steps that ran: fewer than planned when the data ran out.)
        steps = self.done if self.done or self.steps is None else self.steps
        self.steps = steps
        if self.verbose == 2:
            elapsed = time.perf_counter() - self.start
            line = f"{steps}/{steps} - {elapsed:.0f}s{self._format_logs(logs)}"
        else:
            line = self._line(steps, logs, True)
        self.stream.write(("\r" if self.dynamic else "") + line + "\n")
        self.stream.flush()


class ProgbarLogger(Callback):
    """Keras' progress display as a callback: "Epoch 3/10", then the bar
    of the epoch's steps with the running logs (redrawn in place on a
    terminal), one line per epoch elsewhere and at verbose=2; nothing at
    verbose=0. fit adds one unless the callbacks hold one; it follows
    fit's `verbose`, as Keras' does."""

    def __init__(self, count_mode="steps", stream=None):
        super().__init__()
        if count_mode != "steps":
            raise ValueError(f"ProgbarLogger: count_mode must be 'steps' (Keras 3 counts "
                             f"steps), got {count_mode!r}")
        self._stream = stream
        self._bar = None

    @property
    def _verbose(self):
        verbose = self.params.get("verbose", 1)
        return 1 if verbose == "auto" else int(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        stream = self._stream or sys.stdout
        if self._verbose:
            stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")
        self._bar = _Bar(self.params.get("steps"), self._verbose, stream)
        # Running logs cost a read of every metric after each batch: only
        # when the bar is redrawn in place.
        if self._bar.dynamic:
            self.on_train_batch_end = self._batch_end
        else:
            self.__dict__.pop("on_train_batch_end", None)

    def on_train_batch_begin(self, batch, logs=None):
        if self._bar is not None:
            self._bar.done = batch + 1

    def _batch_end(self, batch, logs=None):
        self._bar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.finish(logs or {})


def _better(mode, monitor):
    """(is `a` better than `b`, initial best) for a monitored quantity:
    lower for losses and errors, higher for accuracies (Keras' "auto")."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.startswith("auc")) else "min"
    if mode == "min":
        return (lambda a, b, delta=0.0: a < b - delta), math.inf
    return (lambda a, b, delta=0.0: a > b + delta), -math.inf


class History(Callback):
    """What fit returns: `history` maps each logged quantity (loss, metrics,
    val_*) to its value per epoch."""

    def __init__(self):
        super().__init__()
        self.history, self.epoch, self.params = {}, [], {}

    def on_train_begin(self, logs=None):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class BackupAndRestore(Callback):
    """Fault-tolerant training (Keras' BackupAndRestore): after each epoch
    (save_freq="epoch") or every `save_freq` batches (an int, counted across
    epochs) the model's weights, its optimizer's state and where training
    stands go to backup_dir; a fit that starts with a backup there restores
    them and goes on from the next epoch, or, for a backup made inside an
    epoch, runs that epoch again from its start with the saved weights (as
    Keras does). The backup is deleted when training ends normally (unless
    delete_checkpoint=False); save_freq=False only restores."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir")
        batches = isinstance(save_freq, (int, np.integer)) and \
            not isinstance(save_freq, bool)
        if not (save_freq == "epoch" or save_freq is False or (batches and save_freq > 0)):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch', a positive "
                             f"number of batches or False (restore only), got {save_freq!r}")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.delete_checkpoint = delete_checkpoint
        self._epoch, self._batches = 0, 0
        if batches:   # (fit reads the logs after each batch only when asked)
            self.on_train_batch_end = self._batch_end

    def _checkpoint(self):
        return self.model._training_checkpoint()

    def _epoch_file(self):
        return os.path.join(self.backup_dir, "epoch.json")

    def on_train_begin(self, logs=None):
        import json
        if not os.path.exists(self._epoch_file()):
            return
        with open(self._epoch_file()) as f:
            state = json.load(f)
        self._checkpoint().restore(os.path.join(self.backup_dir, state["checkpoint"]))
        self.model._resume_epoch = int(state["next_epoch"])

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, batch)      # (this epoch runs again on restore)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _save(self, next_epoch, batch=None):
        import json
        os.makedirs(self.backup_dir, exist_ok=True)
        # Two files in turn: the one epoch.json names stays whole until the
        # new one is written and epoch.json points at it.
        named = None
        if os.path.exists(self._epoch_file()):
            with open(self._epoch_file()) as f:
                named = json.load(f).get("checkpoint")
        name = "backup-1.safetensors" if named == "backup-0.safetensors" else \
            "backup-0.safetensors"
        path = self._checkpoint().write(os.path.join(self.backup_dir, name))
        temporary = self._epoch_file() + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"next_epoch": next_epoch, "batch": batch,
                       "checkpoint": os.path.basename(path)}, f)
        os.replace(temporary, self._epoch_file())     # (atomic: one or the other)

    def on_train_end(self, logs=None):
        import shutil
        if self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


class LambdaCallback(Callback):
    """A callback made of functions (Keras' LambdaCallback):
    on_epoch_begin/end(epoch, logs), on_train_batch_begin/end(batch, logs)
    (also as on_batch_begin/end), on_train_begin/end(logs)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 on_batch_begin=None, on_batch_end=None, **kwargs):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
                 "on_train_batch_end": on_train_batch_end or on_batch_end}
        # (other hooks, such as on_test_*, kept as attributes as Keras does:
        # fit calls only the ones above)
        for name, fn in kwargs.items():
            setattr(self, name, fn)
        for name, fn in hooks.items():
            if fn is None:
                continue
            # (fit may leave logs out: the functions always get them, as
            # Keras calls them, with (index, logs) or (logs))
            if name in ("on_train_begin", "on_train_end"):
                setattr(self, name, lambda logs=None, fn=fn: fn(logs))
            else:
                setattr(self, name, lambda index, logs=None, fn=fn: fn(index, logs))


class TerminateOnNaN(Callback):
    """Stops training at the end of the batch whose loss is NaN or
    infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


def _unvalidated(callback, logs):
    """Whether the callback's monitored val_ quantity is missing because
    this epoch was not validated (fit's validation_freq): the callback
    skips the epoch, as Keras does, saying so once."""
    if not callback.monitor.startswith("val_") or any(k.startswith("val_") for k in logs) \
            or not getattr(getattr(callback, "model", None), "_fit_validates", False):
        return False   # (no validation at all: the error says the logs lack it)
    if not getattr(callback, "_said_unvalidated", False):
        callback._said_unvalidated = True
        warnings.warn(f"{type(callback).__name__}: {callback.monitor} is not in the logs of "
                      "epochs without validation (validation_freq); those epochs are "
                      "skipped", stacklevel=3)
    return True


class ModelCheckpoint(Callback):
    """Saves the model at the end of each epoch to `filepath` (formatted
    with `epoch` and the logs, e.g. "ckpt-{epoch:02d}.safetensors"), or only
    when `monitor` improved (save_best_only). As in Keras, the whole model
    (model.save) for a name ending in .keras, .h5 or .hdf5 unless
    save_weights_only=True; the weights (save_weights) otherwise."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint supports save_freq='epoch' only")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only = save_best_only
        self.save_weights_only = bool(save_weights_only)
        self.better, self.best = _better(mode, monitor)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None and _unvalidated(self, logs):
                return
            if current is None:
                raise KeyError(f"ModelCheckpoint monitors {self.monitor!r}, which the "
                               f"logs lack (they have {sorted(logs)})")
            if not self.better(current, self.best):
                return
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from "
                      f"{self.best:.5f} to {current:.5f}, saving model to {path}")
            self.best = current
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        whole = path.lower().endswith((".keras", ".h5", ".hdf5")) and \
            not path.lower().endswith(".weights.h5")
        if whole and not self.save_weights_only:
            self.model.save(path, overwrite=True)
        else:
            self.model.save_weights(path)


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than
    `min_delta` for `patience` epochs; optionally puts back the best
    epoch's weights."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0,
                 mode="auto", baseline=None, restore_best_weights=False,
                 start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta = monitor, abs(float(min_delta))
        self.patience, self.verbose = int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.better, self._initial = _better(mode, monitor)
        self.stopped_epoch = self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = self._initial
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        # (TensorFlow 2.11+ and Keras 3: the best epoch is the best seen,
        # also when none beats the baseline, which only decides whether
        # the wait starts again; the weights kept start with the first
        # epoch's.)
        current = (logs or {}).get(self.monitor)
        if current is None and _unvalidated(self, logs or {}):
            return
        if current is None:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which the logs "
                           f"lack (they have {sorted(logs or {})})")
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.better(current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.better(current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:  # (Keras' rule)
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping")


class CSVLogger(Callback):
    """One CSV row per epoch: the epoch and every logged quantity."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append
        self._file = self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer, self._keys, self._header = None, None, not exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._header:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file:
            self._file.close()
            self._file = None


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate to schedule(epoch, lr) at the start
    of each epoch (it reaches the compiled step: the rate is a variable)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        new = float(self.schedule(epoch, lr))
        if not math.isfinite(new):
            raise ValueError(f"LearningRateScheduler: the schedule returned {new}")
        self.model.optimizer.learning_rate = new
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate "
                  f"to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))


class ReduceLROnPlateau(Callback):
    """Multiplies the optimizer's learning rate by `factor` when `monitor`
    has not improved by more than `min_delta` for `patience` epochs, then
    waits `cooldown` epochs; never below `min_lr` (Keras')."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if float(factor) >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0")
        self.monitor, self.factor = monitor, float(factor)
        self.patience, self.verbose = int(patience), verbose
        self.min_delta, self.cooldown = abs(float(min_delta)), int(cooldown)
        self.min_lr = float(min_lr)
        self.better, self._initial = _better(mode, monitor)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, self._initial

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        logs["lr"] = lr
        current = logs.get(self.monitor)
        if current is None and _unvalidated(self, logs):
            return
        if current is None:
            raise KeyError(f"ReduceLROnPlateau monitors {self.monitor!r}, which the logs "
                           f"lack (they have {sorted(logs)})")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.better(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                          f"to {new}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class TensorBoard(Callback):
    """Writes the epoch's logged quantities as TensorBoard scalars
    ("epoch_loss", "epoch_accuracy", ...) to event files in
    `log_dir`/train and `log_dir`/validation (the val_ quantities), as
    Keras' TensorBoard callback does: `tensorboard --logdir log_dir` shows
    them. With histogram_freq=N, every N epochs a histogram of each weight
    (tagged by its name, 30 equal-width buckets) goes to the train events.
    write_graph is accepted (Kiln writes no graph); profiling, images and
    embeddings are not supported (an error when asked for)."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        if update_freq != "epoch":
            raise ValueError("TensorBoard supports update_freq='epoch' only")
        unsupported = [name for name, value in (
            ("write_images", write_images), ("write_steps_per_second", write_steps_per_second),
            ("profile_batch", profile_batch), ("embeddings_freq", embeddings_freq),
            ("embeddings_metadata", embeddings_metadata)) if value]
        if unsupported:
            raise ValueError(f"TensorBoard: {', '.join(unsupported)} is not supported")
        if int(histogram_freq) < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be >= 0, got {histogram_freq}")
        self.log_dir = str(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self._writers = {}

    def _writer(self, which):
        from .tensorboard import EventFileWriter
        if which not in self._writers:
            self._writers[which] = EventFileWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_epoch_end(self, epoch, logs=None):
        train, validation = {}, {}
        for key, value in (logs or {}).items():
            if key.startswith("val_"):
                validation["epoch_" + key[4:]] = value
            else:
                train["epoch_" + key] = value
        if train:
            self._writer("train").scalars(epoch, train)
        if validation:
            self._writer("validation").scalars(epoch, validation)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._writer("train").histograms(epoch, {
                w.name.rsplit(":", 1)[0]: np.asarray(w.numpy()) for w in self.model.weights})

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
