"""The tutorial's practical exercise as its text gives it, with torch.nn.GRU: the comparison `grunet train` is timed
against end to end (a whole process each: imports, data, 200 full-batch epochs, evaluation, the plot).

    python benchmarks/tutorial_exercise.py [SEED]
    python benchmarks/end_to_end.py          # grunet train against this script, interleaved

Written from the tutorial's text: sine data, sequences of 50, an 800/150 split, GRUNet (hidden 20, 2 layers, a Linear
head on the last step), MSE and Adam at 1e-3, the training loop printing every 20 epochs, the test loss, the plot.
Two departures, both for a benchmark: a seed (argument, default 0), and the plot saved to a file instead of shown
(there is no screen).
"""

import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn, optim  # noqa: E402

torch.manual_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)

# Generate sine wave data
data = np.sin(np.linspace(0, 100, 1000))
sequence_length = 50


# Prepare the dataset
def create_sequences(data, seq_length):
    xs, ys = [], []
    for i in range(len(data) - seq_length):
        x = data[i : i + seq_length]
        y = data[i + seq_length]
        xs.append(x)
        ys.append(y)
    return np.array(xs), np.array(ys)


X, y = create_sequences(data, sequence_length)
X_train, X_test = X[:800], X[800:]
y_train, y_test = y[:800], y[800:]

# Convert to PyTorch tensors
X_train = torch.tensor(X_train, dtype=torch.float32).unsqueeze(-1)
y_train = torch.tensor(y_train, dtype=torch.float32).unsqueeze(-1)
X_test = torch.tensor(X_test, dtype=torch.float32).unsqueeze(-1)
y_test = torch.tensor(y_test, dtype=torch.float32).unsqueeze(-1)


# Define the GRU model
class GRUNet(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(x.device)
        out, _ = self.gru(x, h0)
        out = self.fc(out[:, -1, :])
        return out


# Initialize the model, loss function, and optimizer
input_size = 1
hidden_size = 20
output_size = 1
num_layers = 2
model = GRUNet(input_size, hidden_size, output_size, num_layers)
criterion = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.001)

# Training loop
num_epochs = 200
for epoch in range(num_epochs):
    model.train()
    outputs = model(X_train)
    loss = criterion(outputs, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if (epoch + 1) % 20 == 0:
        print(f"Epoch [{epoch + 1}/{num_epochs}], Loss: {loss.item():.4f}")

# Evaluation
model.eval()
with torch.no_grad():
    test_outputs = model(X_test)
    test_loss = criterion(test_outputs, y_test)
    print(f"Test Loss: {test_loss.item():.4f}")

# Plot the results
plt.plot(y_test.numpy(), label="True")
plt.plot(test_outputs.numpy(), label="Predicted")
plt.legend()
plt.savefig(tempfile.gettempdir() + "/tutorial_exercise.png")
